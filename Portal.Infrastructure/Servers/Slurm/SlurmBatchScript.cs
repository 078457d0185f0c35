using System.Globalization;
using System.Text;
using Portal.Domain.Servers;

namespace Portal.Infrastructure.Servers.Slurm;

/// <summary>
/// The batch script of one user's server. Every value is a single-quoted shell assignment at the top; the body is
/// fixed. On its node the job takes a free port from the range (Python binds each candidate in random order, so two
/// jobs starting at once rarely pick the same one, and Jupyter runs with <c>port_retries=0</c>), writes
/// <c>job</c>, <c>host</c>, <c>port</c> and <c>pid</c> into the endpoint file (by rename), and execs Jupyter, so the
/// pid it wrote is Jupyter's.
/// </summary>
internal static class SlurmBatchScript
{
    private const string Body = """
        fail() {
          echo "portal: $*" >&2
          exit 1
        }

        [[ -x $jupyter ]] || fail "$jupyter not found on $(hostname)"
        for dir in "$home" "$runtime"; do
          mkdir -p -- "$dir" || fail "cannot create $dir on $(hostname)"
          chmod 0700 -- "$dir" || fail "cannot protect $dir on $(hostname)"
        done

        export HOME="$home" SHELL=/bin/bash PYTHONUNBUFFERED=1
        export JUPYTER_RUNTIME_DIR="$runtime" JUPYTER_TOKEN_FILE="$token_file"
        export PORTAL_GPUS="$portal_gpus"
        # The GPUs Slurm bound to the job (--gres=gpu:N on nodes with GPUs) when it did; else the ones the portal chose.
        if [[ -z ${SLURM_JOB_GPUS:-} ]]; then
          export CUDA_VISIBLE_DEVICES="$portal_gpus"
        fi
        if [[ -n $cuda_version ]]; then
          export CUDA_VERSION="$cuda_version"
          loaded=""
          if [[ -n $cuda_module ]]; then
            if ! type module >/dev/null 2>&1; then
              for init in /etc/profile.d/lmod.sh /etc/profile.d/modules.sh /usr/share/lmod/lmod/init/bash /usr/share/modules/init/bash; do
                if [[ -r $init ]]; then
                  # shellcheck disable=SC1090
                  . "$init"
                  break
                fi
              done
            fi
            if type module >/dev/null 2>&1; then
              module load "$cuda_module" || fail "module load $cuda_module failed on $(hostname)"
              loaded=1
            else
              echo "portal: no 'module' command on $(hostname); CUDA $cuda_version from $cuda_home" >&2
            fi
          fi
          if [[ -z $loaded ]]; then
            export CUDA_HOME="$cuda_home" PATH="$cuda_home/bin:$PATH"
            export LD_LIBRARY_PATH="$cuda_home/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
          fi
        fi

        port=$("$python" - "$port_start" "$port_end" <<'PY'
        import random
        import socket
        import sys

        ports = list(range(int(sys.argv[1]), int(sys.argv[2]) + 1))
        random.shuffle(ports)
        for port in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("", port))
                except OSError:
                    continue
            print(port)
            break
        PY
        )
        [[ -n $port ]] || fail "no free port between $port_start and $port_end on $(hostname)"

        host=${SLURMD_NODENAME:-$(hostname)}
        tmp="$endpoint.$SLURM_JOB_ID.tmp"
        printf 'job=%s\nhost=%s\nport=%s\npid=%s\n' "$SLURM_JOB_ID" "$host" "$port" "$$" >"$tmp" || fail "cannot write $tmp on $(hostname)"
        mv -f -- "$tmp" "$endpoint" || fail "cannot write $endpoint on $(hostname)"
        cd -- "$home" || fail "cannot enter $home on $(hostname)"
        exec "$jupyter" --no-browser --ip="$ip" --port="$port" --NotebookApp.port_retries=0 --NotebookApp.base_url=/ \
          --notebook-dir="$home" --allow-root
        """;

    /// <summary>The script for <paramref name="spec"/>; <paramref name="cudaHome"/> and <paramref name="cudaModule"/> are resolved already.</summary>
    public static string For(ServerSpec spec, SlurmOptions options, SlurmStateFiles files, string home, string? cudaHome, string? cudaModule)
    {
        var username = spec.Username.Value;
        var values = new (string Name, string Value)[]
        {
            ("endpoint", files.EndpointPath(username)),
            ("token_file", files.TokenPath(username)),
            ("home", home),
            ("runtime", files.RuntimeDirectory(username)),
            ("jupyter", options.JupyterCommand),
            ("python", options.PythonCommand),
            ("ip", options.JupyterIp),
            ("port_start", options.PortRangeStart.ToString(CultureInfo.InvariantCulture)),
            ("port_end", options.PortRangeEnd.ToString(CultureInfo.InvariantCulture)),
            ("portal_gpus", string.Join(',', spec.Gpus.Select(g => g.Index.ToString(CultureInfo.InvariantCulture)))),
            ("cuda_version", spec.CudaToolkit ?? ""),
            ("cuda_home", cudaHome ?? ""),
            ("cuda_module", cudaModule ?? ""),
        };
        var script = new StringBuilder()
            .Append("#!/bin/bash\n")
            .Append(CultureInfo.InvariantCulture, $"# The Jupyter server of portal user {username} (server {spec.ServerId}), from the portal's Slurm backend.\n")
            .Append("set -u\n");
        foreach (var (name, value) in values)
        {
            script.Append(CultureInfo.InvariantCulture, $"{name}={Quote(value)}\n");
        }
        return script.Append('\n').Append(Body.ReplaceLineEndings("\n")).Append('\n').ToString();
    }

    /// <summary>A single-quoted word for bash: nothing inside is expanded.</summary>
    private static string Quote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
