public import CharterStore
public import Logging
public import ServiceLifecycle

/// Keeps a server in step with the others on a shared database: the analysis runs only while
/// this server leads, changes made through other servers mark conversations for the analysis,
/// and analyses stored by another server replace what this one kept.
public struct CoordinationService: Service {
    let coordination: any ServerCoordination
    let analysis: AnalysisService
    let logger: Logger

    public init(coordination: any ServerCoordination, analysis: AnalysisService, logger: Logger) {
        self.coordination = coordination
        self.analysis = analysis
        self.logger = logger
        analysis.setLeading(false)
    }

    public func run() async throws {
        let (analysis, logger) = (self.analysis, self.logger)
        await cancelWhenGracefulShutdown {
            await coordination.coordinate(
                leading: { leading in
                    if leading != analysis.statistics.leading {
                        logger.info(
                            leading ? "this server now runs the analysis" : "this server stops running the analysis")
                    }
                    analysis.setLeading(leading)
                },
                changed: { analysis.conversationChanged($0) },
                analysed: { analysis.analysisStored($0) })
        }
    }
}
