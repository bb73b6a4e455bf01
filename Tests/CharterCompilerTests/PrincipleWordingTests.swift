import CharterCompiler
import Testing

@Suite struct PrincipleWordingTests {
    static let table: [(String, String)] = [
        ("The AI should be honest.", "Choose the response that is honest."),
        ("The AI should not lie.", "Choose the response that does not lie."),
        ("The AI shouldn't pretend to be human", "Choose the response that does not pretend to be human."),
        ("The AI should admit when it is uncertain.", "Choose the response that admits when it is uncertain."),
        ("The AI should respect privacy and avoid harm.", "Choose the response that respects privacy and avoids harm."),
        ("The AI should never share personal data.", "Choose the response that never shares personal data."),
        ("The AI should always cite its sources.", "Choose the response that always cites its sources."),
        ("AI should treat everyone equally.", "Choose the response that treats everyone equally."),
        ("AI must not discriminate", "Choose the response that does not discriminate."),
        ("The AI must explain its reasoning.", "Choose the response that explains its reasoning."),
        ("It should be transparent about being an AI.", "Choose the response that is transparent about being an AI."),
        ("It should not manipulate users.", "Choose the response that does not manipulate users."),
        ("The assistant should refuse dangerous requests.", "Choose the response that refuses dangerous requests."),
        ("The model should try to be helpful.", "Choose the response that tries to be helpful."),
        ("AI systems should respect human autonomy.", "Choose the response that respects human autonomy."),
        ("The AI needs to protect children.", "Choose the response that protects children."),
        ("The AI has to follow the law", "Choose the response that follows the law."),
        ("The AI should not be biased.", "Choose the response that is not biased."),
        ("The AI should be able to say no.", "Choose the response that is able to say no."),
        ("The AI should always be polite.", "Choose the response that is always polite."),
        ("Be honest about your limitations.", "Choose the response that is honest about your limitations."),
        ("Don't lie to users.", "Choose the response that does not lie to users."),
        ("Do not give medical diagnoses.", "Choose the response that does not give medical diagnoses."),
        ("Never reveal private information.", "Choose the response that never reveals private information."),
        (
            "Always ask for clarification when unsure.",
            "Choose the response that always asks for clarification when unsure."
        ),
        ("Respect the user's autonomy.", "Choose the response that respects the user's autonomy."),
        (
            "Provide balanced perspectives on political topics.",
            "Choose the response that provides balanced perspectives on political topics."
        ),
        ("The AI should teach rather than do the work.", "Choose the response that teaches rather than do the work."),
        ("The AI should apologize and correct mistakes.", "Choose the response that apologizes and corrects mistakes."),
        ("The AI should encourage critical thinking", "Choose the response that encourages critical thinking."),
        ("The AI should match its tone to the user.", "Choose the response that matches its tone to the user."),
        (
            "The AI should defer to experts on medical questions.",
            "Choose the response that defers to experts on medical questions."
        ),
        ("The AI should support LGBTQ people.", "Choose the response that supports LGBTQ people."),
        ("AI cannot replace human judgement.", "Choose the response that does not replace human judgement."),
    ]

    @Test(arguments: table.indices) func rewritesCommonForms(_ index: Int) {
        let (statement, expected) = Self.table[index]
        #expect(PrincipleWording.principle(from: statement) == expected)
    }

    @Test func whatTheRulesCannotReadIsQuotedWhole() {
        for statement in ["Freedom of speech matters most.", "I think AI is scary", "Privacy > convenience"] {
            #expect(
                PrincipleWording.principle(from: statement)
                    == "Choose the response that is most consistent with the principle: «\(statement)»")
        }
    }

    @Test func everyPrincipleStartsWithThePreferenceForm() {
        for (statement, _) in Self.table {
            #expect(PrincipleWording.principle(from: statement).hasPrefix("Choose the response that "))
        }
    }
}
