import CharterDomain
import Foundation
import Hummingbird

/// Works out who a participant request comes from and what its CSRF token must be.
///
/// A browser carries a random id in an HMAC-signed, HttpOnly, SameSite=Lax cookie; a panel
/// participant is named by `xid` in the link instead, so they can be traced without cookies.
/// The CSRF token is an HMAC of the identity, so a form only works for whom it was rendered.
struct ParticipantIdentityResolver: Sendable {
    static let browserCookie = "charter_browser"
    let signer: Signer
    let secureCookies: Bool

    struct Resolved {
        var identity: ParticipantIdentity
        var xid: String?
        /// Set when the browser had no valid cookie and one must be issued.
        var newCookie: Cookie?
        var csrf: String
    }

    /// For a page view: always yields an identity, issuing a new browser id when needed.
    func forPage(_ request: Request, conversationID: Int64, xid rawXID: String?) throws -> Resolved {
        if let rawXID, !rawXID.isEmpty {
            let xid = try ParticipantIdentity.validatedXID(rawXID)
            return resolved(.external(xid), xid: xid, conversationID: conversationID, cookie: nil)
        }
        if let browserID = browserID(request) {
            return resolved(.anonymous(browserID), xid: nil, conversationID: conversationID, cookie: nil)
        }
        let browserID = SecureToken.make()
        let cookie = Cookie(
            name: Self.browserCookie, value: signer.sign(browserID, purpose: "browser"), maxAge: 365 * 24 * 3600,
            path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
        return resolved(.anonymous(browserID), xid: nil, conversationID: conversationID, cookie: cookie)
    }

    /// For a form post: the identity must already be established and the CSRF token match.
    func forForm(_ request: Request, form: Form, conversationID: Int64) throws -> Resolved {
        let result: Resolved
        if let rawXID = form["xid"], !rawXID.isEmpty {
            let xid = try ParticipantIdentity.validatedXID(rawXID)
            result = resolved(.external(xid), xid: xid, conversationID: conversationID, cookie: nil)
        } else if let browserID = browserID(request) {
            result = resolved(.anonymous(browserID), xid: nil, conversationID: conversationID, cookie: nil)
        } else {
            throw AppError.badCSRF
        }
        guard let given = form["csrf"], ConstantTime.equal(Array(given.utf8), Array(result.csrf.utf8)) else {
            throw AppError.badCSRF
        }
        return result
    }

    private func browserID(_ request: Request) -> String? {
        request.cookies[Self.browserCookie].flatMap { signer.verified($0.value, purpose: "browser") }
    }

    private func resolved(_ identity: ParticipantIdentity, xid: String?, conversationID: Int64, cookie: Cookie?)
        -> Resolved
    {
        let key: String =
            switch identity {
            case .id(let id): "id:\(id)"
            case .external(let xid): "xid:\(conversationID):\(xid)"
            case .anonymous(let browserID): "browser:\(browserID)"
            }
        return Resolved(
            identity: identity, xid: xid, newCookie: cookie, csrf: signer.signature(of: key, purpose: "csrf"))
    }

    /// The rate-limit key of an identity.
    static func limitKey(_ identity: ParticipantIdentity, conversationID: Int64) -> String {
        switch identity {
        case .id(let id): "p:\(id)"
        case .external(let xid): "x:\(conversationID):\(xid)"
        case .anonymous(let browserID): "b:\(browserID)"
        }
    }
}
