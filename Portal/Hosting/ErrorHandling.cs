using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Portal.Api;

namespace Portal.Hosting;

/// <summary>
/// What a failed request answers. The API always answers <c>application/problem+json</c>; pages show the error page
/// (<see cref="Path"/>) outside Development. Both carry a reference (the request's trace identifier) that is logged
/// with the exception, so an admin finds the entry a person quotes.
/// </summary>
public static class ErrorHandling
{
    public const string Path = "/error";
    public const string NotFoundPath = "/not-found";

    /// <summary>The reference a person is shown and the log names: the request's trace identifier.</summary>
    public static string Reference(HttpContext context) => context.TraceIdentifier;

    public static bool IsApi(HttpContext context) => context.Request.Path.StartsWithSegments(ApiEndpoints.Prefix);

    /// <summary>400 (or the given status) for a request the server could not read, 500 for everything else.</summary>
    public static int StatusOf(Exception exception) => exception is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError;

    private static bool IsPageNavigation(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
        && request.Headers.Accept.Any(accept => accept?.Contains("text/html", StringComparison.OrdinalIgnoreCase) == true);

    public static IServiceCollection AddPortalErrorHandling(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
            context.ProblemDetails.Extensions["traceId"] = Reference(context.HttpContext));
        services.AddExceptionHandler<LoggedExceptionHandler>();
        // A parameter that does not bind (?limit=abc) throws in every environment, not only in Development, so the
        // exception handler answers it as a 400 that names the parameter instead of an empty body.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    public static WebApplication UsePortalErrorHandling(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = new ExceptionHandlerOptions
        {
            StatusCodeSelector = StatusOf,
            // LoggedExceptionHandler has logged it with the reference; the middleware's own entry would only repeat it.
            SuppressDiagnosticsCallback = _ => true,
        };
        if (app.Environment.IsDevelopment())
        {
            // Pages keep the developer exception page; the API answers problem details even here.
            app.UseWhen(IsApi, api => api.UseExceptionHandler(options));
        }
        else
        {
            options.ExceptionHandlingPath = Path;
            options.CreateScopeForErrors = true;
            app.UseExceptionHandler(options);
        }
        // An empty 4xx/5xx (401, 403, 404, a refused binding) gets problem details on the API, and the not-found page
        // when a browser navigates to a page. Re-execution stays in the main pipeline (inside a UseWhen branch it
        // reaches no endpoint: every unknown page came back as an empty 404) and is switched off per request for
        // everything else: a form post re-executed would be posted to the page, a script wants no HTML.
        app.UseStatusCodePagesWithReExecute(NotFoundPath);
        app.Use((context, next) =>
        {
            if (IsApi(context) || !IsPageNavigation(context.Request))
            {
                context.Features.Get<IStatusCodePagesFeature>()?.Enabled = false;
            }
            return next(context);
        });
        app.UseWhen(IsApi, api => api.UseStatusCodePages());
        return app;
    }
}

/// <summary>
/// Logs every unhandled exception once, with the reference the person is shown; answers API requests with problem
/// details and leaves pages to the error page.
/// </summary>
public sealed partial class LoggedExceptionHandler(IProblemDetailsService problems, ILogger<LoggedExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(exception);
        var reference = ErrorHandling.Reference(httpContext);
        var status = ErrorHandling.StatusOf(exception);
        // The path as requested (the middleware has already set the error page's), without the query: a query may
        // carry a one-time token.
        var path = new PathString(httpContext.Features.Get<IExceptionHandlerPathFeature>()?.Path ?? httpContext.Request.Path.Value);
        if (status < StatusCodes.Status500InternalServerError)
        {
            LogBadRequest(logger, httpContext.Request.Method, path.Value, reference, exception.Message);
        }
        else
        {
            LogFailed(logger, exception, httpContext.Request.Method, path.Value, reference);
        }
        if (!path.StartsWithSegments(ApiEndpoints.Prefix))
        {
            // The error page is shown as for a GET: re-executing a refused form post would validate its antiforgery
            // token (and read its form) a second time and fail again. The request log and metrics keep the real method.
            var method = httpContext.Request.Method;
            httpContext.Request.Method = HttpMethods.Get;
            httpContext.Response.OnCompleted(() =>
            {
                httpContext.Request.Method = method;
                return Task.CompletedTask;
            });
            return false;
        }
        httpContext.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = status,
                // A bad request's message says which parameter and why; a failure's says nothing about the server.
                Detail = status < StatusCodes.Status500InternalServerError
                    ? exception.Message
                    : $"The request failed. Quote the reference {reference} to the administrators.",
            },
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed; reference {Reference}")]
    private static partial void LogFailed(ILogger logger, Exception exception, string method, string? path, string reference);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} refused as a bad request ({Reason}); reference {Reference}")]
    private static partial void LogBadRequest(ILogger logger, string method, string? path, string reference, string reason);
}
