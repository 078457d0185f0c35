// Live check of the desired username on the application form: format and availability (database and LDAP).
// The server checks again on submit; this only tells the applicant early. "unavailable" means LDAP cannot be asked
// now: the applicant may still apply, and staff check the username again before approval.
(() => {
  const input = document.querySelector("[data-check-url]");
  const status = document.getElementById("username-status");
  if (!input || !status) return;
  let timer = 0;
  let latest = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const name = input.value.trim();
    if (!name) { status.textContent = ""; status.className = "username-status"; return; }
    status.textContent = status.dataset.checking;
    timer = setTimeout(async () => {
      const request = ++latest;
      try {
        const response = await fetch(`${input.dataset.checkUrl}?name=${encodeURIComponent(name)}`, { headers: { Accept: "application/json" } });
        if (request !== latest || !response.ok) return;
        const { status: result } = await response.json();
        status.textContent = status.dataset[result] ?? "";
        status.className = `username-status ${result}`;
      } catch {
        status.textContent = "";
      }
    }, 300);
  });
})();
