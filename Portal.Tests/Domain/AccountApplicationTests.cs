using Portal.Domain.Accounts;
using Portal.Domain.Common;
using Portal.Domain.Onboarding;

namespace Portal.Tests.Domain;

public sealed class AccountApplicationTests
{
    private static readonly DateTimeOffset Now = new(2026, 4, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly Username Reviewer = Username.Parse("staff1");

    public static AccountApplication Submitted(string username = "taro")
    {
        var (form, errors) = ApplicationForm.Validate("Taro Yamada", $"{username}@keio.jp", "S1234567", "Science", username,
            "Deep learning course", acceptedTerms: true, ["keio.jp"]);
        Assert.Empty(errors);
        return AccountApplication.Submit(form!, 1, Now, "192.0.2.1", "hash");
    }

    private static AccountApplication InState(ApplicationState state)
    {
        var application = Submitted();
        switch (state)
        {
            case ApplicationState.Submitted:
                break;
            case ApplicationState.Approved:
                application.Approve(Reviewer, Now);
                break;
            case ApplicationState.Rejected:
                application.Reject(Reviewer, "Not a student", Now);
                break;
            case ApplicationState.Withdrawn:
                application.Withdraw(Now);
                break;
            case ApplicationState.ProvisioningFailed:
                application.Approve(Reviewer, Now);
                application.RecordProvisioningFailure("LDAP down", Now.AddSeconds(10));
                break;
            case ApplicationState.Provisioned:
                application.Approve(Reviewer, Now);
                application.AssignUidNumber(10001);
                application.MarkProvisioned(Now);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(state));
        }
        Assert.Equal(state, application.State);
        return application;
    }

    public static TheoryData<ApplicationState, string, bool> Moves()
    {
        var data = new TheoryData<ApplicationState, string, bool>();
        var allowed = new HashSet<(ApplicationState, string)>
        {
            (ApplicationState.Submitted, "approve"), (ApplicationState.Submitted, "reject"), (ApplicationState.Submitted, "withdraw"),
            (ApplicationState.Approved, "fail"), (ApplicationState.Approved, "provision"),
            (ApplicationState.ProvisioningFailed, "fail"), (ApplicationState.ProvisioningFailed, "provision"), (ApplicationState.ProvisioningFailed, "retry"),
        };
        foreach (var state in Enum.GetValues<ApplicationState>())
        {
            foreach (var move in new[] { "approve", "reject", "withdraw", "fail", "provision", "retry" })
            {
                data.Add(state, move, allowed.Contains((state, move)));
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Moves))]
    public void Move_FromEachState_AllowedOrThrowsInvalidTransition(ApplicationState from, string move, bool allowed)
    {
        var application = InState(from);
        var version = application.Version;
        void Provision()
        {
            if (application.AwaitsProvisioning)
            {
                application.AssignUidNumber(10001);
            }
            application.MarkProvisioned(Now);
        }
        Action act = move switch
        {
            "approve" => () => application.Approve(Reviewer, Now),
            "reject" => () => application.Reject(Reviewer, "No", Now),
            "withdraw" => () => application.Withdraw(Now),
            "fail" => () => application.RecordProvisioningFailure("boom", Now),
            "provision" => Provision,
            "retry" => () => application.RetryProvisioningNow(Now),
            _ => throw new ArgumentOutOfRangeException(nameof(move)),
        };

        if (allowed)
        {
            act();
            Assert.True(application.Version > version);
        }
        else
        {
            Assert.Throws<InvalidTransitionException>(act);
            Assert.Equal(from, application.State);
            Assert.Equal(version, application.Version);
        }
    }

    [Fact]
    public void Approve_Submitted_KeepsReviewerAndTime()
    {
        var application = Submitted();
        application.Approve(Reviewer, Now.AddHours(2));

        Assert.Equal(Reviewer, application.DecidedBy);
        Assert.Equal(Now.AddHours(2), application.DecidedAt);
        Assert.Equal(Now.AddHours(2), application.NextProvisioningAttemptAt);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Reject_WithoutReason_ThrowsAndStaysSubmitted(string reason)
    {
        var application = Submitted();

        Assert.Throws<InvalidValueException>(() => application.Reject(Reviewer, reason, Now));
        Assert.Equal(ApplicationState.Submitted, application.State);
    }

    [Fact]
    public void Reject_ReasonWithNul_ThrowsAndStaysSubmitted()
    {
        var application = Submitted();

        var error = Assert.Throws<InvalidValueException>(() => application.Reject(Reviewer, "Not a\r\nstudent\u0000", Now));

        Assert.Equal(nameof(AccountApplication.RejectionReason), error.Field);
        Assert.Equal(ControlCharacters.Message("reason"), error.Message);
        Assert.True(error.HasControlCharacters);
        Assert.Equal(ApplicationState.Submitted, application.State);
        Assert.Null(application.RejectionReason);
    }

    [Theory]
    [InlineData(nameof(ApplicationForm.FullName))]
    [InlineData(nameof(ApplicationForm.AffiliationId))]
    [InlineData(nameof(ApplicationForm.Department))]
    [InlineData(nameof(ApplicationForm.Purpose))]
    public void Submit_FormNotFromValidateWithNul_ThrowsNamingTheField(string field)
    {
        var good = new ApplicationForm("Taro Yamada", EmailAddress.Parse("taro@keio.jp"), "S1234567", "Science", Username.Parse("taro"), "Deep learning\ncourse");
        var form = field switch
        {
            nameof(ApplicationForm.FullName) => good with { FullName = "Taro\u0000Yamada" },
            nameof(ApplicationForm.AffiliationId) => good with { AffiliationId = "S123\u0000" },
            nameof(ApplicationForm.Department) => good with { Department = "Sci\u0000ence" },
            _ => good with { Purpose = "Deep learning\ncourse\u0000" },
        };

        var error = Assert.Throws<InvalidValueException>(() => AccountApplication.Submit(form, 1, Now, null, "hash"));

        Assert.Equal(field, error.Field);
        Assert.True(error.HasControlCharacters);
    }

    [Fact]
    public void Reject_OverLongReason_Throws()
    {
        var application = Submitted();
        Assert.Throws<InvalidValueException>(() => application.Reject(Reviewer, new string('x', 1001), Now));
    }

    [Fact]
    public void RecordProvisioningFailure_Twice_CountsAttemptsAndKeepsLastError()
    {
        var application = InState(ApplicationState.Approved);

        application.RecordProvisioningFailure("first", Now.AddSeconds(10));
        application.RecordProvisioningFailure("second", Now.AddSeconds(30));

        Assert.Equal(2, application.ProvisioningAttempts);
        Assert.Equal("second", application.LastProvisioningError);
        Assert.Equal(Now.AddSeconds(30), application.NextProvisioningAttemptAt);
    }

    [Fact]
    public void MarkProvisioned_WithoutUidNumber_Throws()
    {
        var application = InState(ApplicationState.Approved);
        Assert.Throws<DomainException>(() => application.MarkProvisioned(Now));
    }

    [Fact]
    public void AssignUidNumber_DifferentSecondValue_Throws()
    {
        var application = InState(ApplicationState.Approved);
        application.AssignUidNumber(10001);

        application.AssignUidNumber(10001);
        Assert.Throws<DomainException>(() => application.AssignUidNumber(10002));
    }
}
