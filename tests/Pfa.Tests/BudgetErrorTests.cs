using Pfa.Core.Budget;
using Pfa.Core.Errors;
using Pfa.Core.Json;

namespace Pfa.Tests;

/// <summary>A misspelt or mistyped budget property: the error names it, points at it, and offers the right name.</summary>
public class BudgetErrorTests
{
    static PfaException Fails(string json) => Assert.Throws<PfaException>(() => PfaBudget.Parse(json, "pfa.json"));

    [Fact]
    public void A_misspelt_property_points_at_itself_and_suggests_the_known_one()
    {
        var e = Fails("{\n  \"strategy\": \"energy\",\n  \"energi\": 0.9\n}\n");
        Assert.Equal(ErrorCodes.InvalidJson, e.Code);
        Assert.Equal((3, 3), (e.Line, e.Column));   // the property name, not its value
        Assert.Contains("unknown property 'energi'; did you mean 'energy'?", e.Message);
        Assert.DoesNotContain("Pfa.Core", e.Message); // no .NET type names
    }

    [Fact]
    public void A_nested_misspelling_is_found_in_its_own_object()
    {
        var e = Fails("{\n  \"finetune\": {\n    \"epoch\": 3\n  }\n}\n");
        Assert.Equal((3, 5), (e.Line, e.Column));
        Assert.Contains("did you mean 'epochs'?", e.Message);
        Assert.Contains("learning_rate", e.Message); // lists what is allowed there
    }

    [Fact]
    public void A_name_far_from_every_property_gets_no_guess()
    {
        var e = Fails("{ \"zzzzzzzz\": 1 }");
        Assert.Contains("unknown property 'zzzzzzzz'.", e.Message);
        Assert.DoesNotContain("did you mean", e.Message);
    }

    [Theory]
    [InlineData("{ \"energy\": \"0.9\" }", "'energy' must be a number; found \"0.9\".")]
    [InlineData("{ \"seed\": 1.5 }", "'seed' must be a whole number; found 1.5.")]
    [InlineData("{ \"seed\": 1099511627776 }", "'seed' must be a whole number from -2147483648 to 2147483647; found 1099511627776.")]
    [InlineData("{ \"include\": [5.5] }", "'include[0]' must be a string; found 5.5.")]
    [InlineData("{ \"finetune\": { \"nesterov\": 1 } }", "'nesterov' must be true or false; found 1.")]
    public void A_value_of_the_wrong_type_says_what_was_expected(string json, string expected)
    {
        var e = Fails(json);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("System.", e.Message);
    }

    [Theory]
    [InlineData("energi", "energy")]
    [InlineData("min_filter", "min_filters")]
    [InlineData("toleranse", "tolerance")]
    [InlineData("xyz", null)]
    public void Closest_name_by_edit_distance(string typo, string? expected) =>
        Assert.Equal(expected, JsonErrorText.Closest(typo, ["energy", "min_filters", "tolerance", "target"]));

    [Theory]
    [InlineData("{ \"finetune\": { \"momentum\": 5 } }", 1, "'momentum' must be in [0, 1); found 5.")]
    [InlineData("{ \"finetune\": { \"crop_padding\": -1 } }", 1, "'crop_padding' must be ≥ 0")]
    [InlineData("{ \"finetune\": { \"step_epochs\": 0 } }", 1, "'step_epochs' must be at least 1")]
    [InlineData("{ \"finetune\": { \"step_gamma\": 0 } }", 1, "'step_gamma' must be in (0, 1]")]
    [InlineData("{ \"finetune\": { \"weight_decay\": -0.1 } }", 1, "'weight_decay' must be ≥ 0")]
    public void Nonsensical_training_settings_are_budget_errors_with_a_location(string json, int line, string expected)
    {
        var e = Fails(json);
        Assert.Equal(ErrorCodes.InvalidBudget, e.Code);
        Assert.Equal(line, e.Line);
        Assert.Contains(expected, e.Message);
    }
}
