using System.Reflection;
using System.Text.Json;
using Portal.Domain.Common;

namespace Portal.Security;

/// <summary>
/// Refuses, with 400 problem details naming the field, an endpoint call whose bound texts hold control characters:
/// string parameters (route, query, header, form) may hold none, string properties of a JSON body no more than tab
/// and line breaks. Nothing reaches the handler, so nothing reaches the database (PostgreSQL refuses NUL with 22021).
/// </summary>
public static class ControlCharacterFilter
{
    public static TBuilder RefuseControlCharacters<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilterFactory(Create);

    private sealed record Text(int Argument, string Field, ControlCharacters.Lines Lines, PropertyInfo? Property);

    private static EndpointFilterDelegate Create(EndpointFilterFactoryContext factory, EndpointFilterDelegate next)
    {
        var isService = factory.ApplicationServices.GetService<IServiceProviderIsService>();
        List<Text> texts = [];
        foreach (var parameter in factory.MethodInfo.GetParameters())
        {
            var type = parameter.ParameterType;
            if (type == typeof(string))
            {
                texts.Add(new Text(parameter.Position, parameter.Name!, ControlCharacters.Lines.Single, null));
            }
            else if (IsRequestBody(type, isService))
            {
                texts.AddRange(type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                    .Where(p => p.PropertyType == typeof(string) && p.GetMethod is not null && p.GetIndexParameters().Length == 0)
                    .Select(p => new Text(parameter.Position, JsonNamingPolicy.CamelCase.ConvertName(p.Name), ControlCharacters.Lines.Multiple, p)));
            }
        }
        if (texts.Count == 0)
        {
            return next;
        }
        return async context =>
        {
            foreach (var text in texts)
            {
                var argument = context.Arguments[text.Argument];
                var value = text.Property is null ? argument as string : argument is null ? null : text.Property.GetValue(argument) as string;
                if (ControlCharacters.Contains(value, text.Lines))
                {
                    return TypedResults.ValidationProblem(
                        new Dictionary<string, string[]> { [text.Field] = [ControlCharacters.Message(text.Field)] });
                }
            }
            return await next(context);
        };
    }

    /// <summary>A type the portal declares for a JSON body: not a service, not one of the framework's own types.</summary>
    private static bool IsRequestBody(Type type, IServiceProviderIsService? isService) =>
        type.IsClass && type.Assembly == typeof(ControlCharacterFilter).Assembly && isService?.IsService(type) != true;
}
