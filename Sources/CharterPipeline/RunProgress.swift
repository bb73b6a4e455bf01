public import Foundation

/// What a run has done so far, folded from its pipeline's events: a bar per arm and stage, the
/// training curves as they come in, and the latest message. Stored with the run as JSON.
public struct RunProgress: Codable, Sendable, Equatable {
    public struct Stage: Codable, Sendable, Equatable {
        public var arm: String?
        public var stage: String
        public var step: Int
        public var of: Int

        public var fraction: Double { of > 0 ? Double(step) / Double(of) : 0 }
    }

    public struct Series: Codable, Sendable, Equatable {
        public var arm: String?
        public var stage: String?
        public var name: String
        /// (step, value) pairs.
        public var points: [[Double]]
    }

    public var stages: [Stage] = []
    public var series: [Series] = []
    public var lastMessage: String?
    public var events = 0

    /// The longest curve kept; a longer one is thinned to every other point, so a long training
    /// run costs the database a bounded row.
    public static let maximumPoints = 400

    public init() {}

    public mutating func apply(_ event: PipelineEvent) {
        events += 1
        switch event {
        case .progress(let arm, let stage, let step, let of):
            if let index = stages.firstIndex(where: { $0.arm == arm && $0.stage == stage }) {
                stages[index].step = step
                stages[index].of = of
            } else {
                stages.append(Stage(arm: arm, stage: stage, step: step, of: of))
            }
        case .metric(let arm, let stage, let name, let step, let value):
            let index =
                series.firstIndex { $0.arm == arm && $0.stage == stage && $0.name == name }
                ?? {
                    series.append(Series(arm: arm, stage: stage, name: name, points: []))
                    return series.count - 1
                }()
            let x = Double(step ?? (series[index].points.count + 1))
            series[index].points.append([x, value])
            if series[index].points.count > Self.maximumPoints {
                series[index].points = series[index].points.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            }
        case .log(let message):
            lastMessage = String(message.prefix(500))
        case .done:
            break
        }
    }

    public func encoded() throws -> Data { try JSONEncoder().encode(self) }

    public static func decode(_ data: Data) throws -> RunProgress {
        try JSONDecoder().decode(RunProgress.self, from: data)
    }
}
