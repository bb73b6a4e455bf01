import CharterDomain
public import CharterMath
import Foundation

/// The analysis as two CSV reports for spreadsheets: one row per statement (votes, agree share
/// per group, GAC, CCAI score, repness per group) and one per participant (group, projection).
/// Groups are named by the one labelling (A is the largest); numbers are exact; text cells are
/// neutralised against formula injection.
public enum AnalysisCSV {
    public static func statements(
        _ result: AnalysisResult, texts: [Int64: String], sources: [Int64: String] = [:], groupLabel: (Int) -> String
    ) -> String {
        let groups = result.groups.indices
        var header = ["statement", "source_id", "text", "moderated_out", "votes", "agree", "disagree", "pass"]
        for g in groups {
            let label = groupLabel(g)
            header += [
                "group_\(label)_votes", "group_\(label)_agree_share", "group_\(label)_repness_agree",
                "group_\(label)_repness_disagree",
            ]
        }
        header += ["gac", "gac_disagree", "ccai_score", "extremity", "x", "y"]
        var lines = [header.joined(separator: ",")]
        for s in result.statements.sorted(by: { $0.id < $1.id }) {
            var row = [
                String(s.id), text(sources[s.id] ?? ""), text(texts[s.id] ?? ""), s.moderatedOut ? "1" : "0",
                String(s.votes), String(s.agree), String(s.disagree), String(s.votes - s.agree - s.disagree),
            ]
            for g in groups {
                let votes = s.groupVotes.indices.contains(g) ? s.groupVotes[g] : nil
                let repness = s.repness(ofGroup: g)
                row += [
                    votes.map { String($0.votes) } ?? "",
                    votes.map { $0.votes == 0 ? "" : number(Double($0.agree) / Double($0.votes)) } ?? "",
                    repness.map { number($0.agree) } ?? "", repness.map { number($0.disagree) } ?? "",
                ]
            }
            row += [number(s.gac), number(s.gacDisagree), number(s.ccaiAgreeProduct), number(s.extremity)]
            row += [number(s.x), number(s.y)]
            lines.append(row.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func participants(
        _ result: AnalysisResult, sources: [Int64: String] = [:], groupLabel: (Int) -> String
    ) -> String {
        var lines = ["participant,source_id,group,in_conversation,votes,x,y"]
        for p in result.participants.sorted(by: { $0.id < $1.id }) {
            lines.append(
                [
                    String(p.id), text(sources[p.id] ?? ""), p.group.map(groupLabel) ?? "", p.inConv ? "1" : "0",
                    String(p.voteCount), number(p.x), number(p.y),
                ].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Exact, and never in exponent form that a spreadsheet might misread as text.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.10g", value).contains("e") ? String(format: "%.12f", value) : "\(value)"
    }

    static func text(_ raw: String) -> String {
        let neutral = CSVInjection.neutralised(raw)
        guard neutral.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return neutral }
        return "\"" + neutral.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
