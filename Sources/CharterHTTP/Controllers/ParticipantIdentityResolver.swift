import CharterDomain
import CharterStore
import Foundation
import Hummingbird

/// Works out who a participant request comes from and what its CSRF token must be.
///
/// A browser carries a random id in an HMAC-signed, HttpOnly, SameSite=Lax cookie; a panel
/// participant is named by `xid` in the link, and the conversation's `xid_policy` says whether
/// the xid is a mere label (`open`) or belongs to the first browser that used it (`bound`,
/// `signed` links, an `allow-list`). The CSRF token is an HMAC of the identity *and* the
/// browser, so knowing someone's xid is never enough to post a form as them.
struct ParticipantIdentityResolver: Sendable {
    static let browserCookie = "charter_browser"
    let signer: Signer
    let secureCookies: Bool
    let store: any IdentityStore

    struct Resolved {
        var identity: ParticipantIdentity
        var xid: String?
        /// The link's signature, carried on to the forms under the `signed` policy.
        var sig: String?
        /// Set when the browser had no valid cookie and one must be issued.
        var newCookie: Cookie?
        var csrf: String
        /// The participant this request made (a panel id's first use under a binding policy).
        var createdParticipant: Int64?
    }

    static let xidInUse = AppError(
        .forbidden, code: "xid_in_use",
        message:
            "This panel id is already in use in another browser. If it is yours, ask the organiser of the conversation to release it."
    )
    static let badSignature = AppError(
        .forbidden, code: "bad_signature",
        message: "This link is not valid: its signature does not match the panel id. Use the link you were sent.")
    static let notAllowed = AppError(
        .forbidden, code: "xid_not_allowed", message: "This panel id is not on the conversation's list of participants."
    )

    /// Checks an xid against the conversation's policy, before anything is bound.
    func admit(xid: String, sig: String?, conversation: Conversation) async throws {
        switch conversation.settings.xidPolicy {
        case .open, .bound:
            return
        case .signed:
            let expected = Signer.xidSignature(xid: xid, secret: signer.xidSecret(conversationID: conversation.id))
            guard let sig, ConstantTime.equal(Array(sig.lowercased().utf8), Array(expected.utf8)) else {
                throw Self.badSignature
            }
        case .allowList:
            guard try await store.isXIDAllowed(conversationID: conversation.id, xid: xid) else { throw Self.notAllowed }
        }
    }

    /// For a page view: always yields an identity, issuing a new browser id when needed. Under a
    /// binding policy the xid is bound to this browser on its first use, and refused (403) when
    /// another browser holds it.
    func forPage(_ request: Request, conversation: Conversation, xid rawXID: String?, sig: String?) async throws
        -> Resolved
    {
        var browserID = browserID(request)
        var cookie: Cookie?
        if browserID == nil {
            let made = SecureToken.make()
            browserID = made
            cookie = Cookie(
                name: Self.browserCookie, value: signer.sign(made, purpose: "browser"), maxAge: 365 * 24 * 3600,
                path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
        }
        let browser = browserID ?? ""
        if let rawXID, !rawXID.isEmpty {
            let xid = try ParticipantIdentity.validatedXID(rawXID)
            try await admit(xid: xid, sig: sig, conversation: conversation)
            var created: Int64?
            if conversation.settings.xidPolicy.binds {
                let binding = try await store.bindXID(
                    conversationID: conversation.id, xid: xid, binder: "browser:\(browser)")
                guard binding.held else { throw Self.xidInUse }
                if binding.created { created = binding.participant.id }
            }
            var result = resolved(
                .external(xid), xid: xid, browserID: browser, conversationID: conversation.id, cookie: cookie)
            result.sig = sig
            result.createdParticipant = created
            return result
        }
        return resolved(
            .anonymous(browser), xid: nil, browserID: browser, conversationID: conversation.id, cookie: cookie)
    }

    /// For a page that only reads (the results): the identity the request carries, to look up
    /// a participant who already exists. Unlike `forPage` it issues no cookie and binds no xid,
    /// so looking makes nobody; an xid that a binding policy gave to another browser (or to no
    /// one yet) reads as nobody. A bad signature or an xid off the allow-list is refused as on
    /// the conversation's page.
    func forReading(_ request: Request, conversation: Conversation, xid rawXID: String?, sig: String?) async throws
        -> ParticipantIdentity?
    {
        guard let rawXID, !rawXID.isEmpty else { return browserID(request).map { .anonymous($0) } }
        let xid = try ParticipantIdentity.validatedXID(rawXID)
        try await admit(xid: xid, sig: sig, conversation: conversation)
        if conversation.settings.xidPolicy.binds {
            guard let browser = browserID(request),
                try await store.xidBinder(conversationID: conversation.id, xid: xid) == "browser:\(browser)"
            else { return nil }
        }
        return .external(xid)
    }

    /// For a page that belongs to no conversation (sign-in): a browser id and its CSRF token.
    func forSitePage(_ request: Request) -> Resolved {
        if let browserID = browserID(request) {
            return resolved(.anonymous(browserID), xid: nil, browserID: browserID, conversationID: 0, cookie: nil)
        }
        let made = SecureToken.make()
        let cookie = Cookie(
            name: Self.browserCookie, value: signer.sign(made, purpose: "browser"), maxAge: 365 * 24 * 3600,
            path: "/", secure: secureCookies, httpOnly: true, sameSite: .lax)
        return resolved(.anonymous(made), xid: nil, browserID: made, conversationID: 0, cookie: cookie)
    }

    /// For a form post: the browser must be known, the CSRF token match, and a bound xid be
    /// held by this browser.
    func forForm(_ request: Request, form: Form, conversation: Conversation) async throws -> Resolved {
        let result = try forSiteForm(request, form: form, conversationID: conversation.id)
        if let xid = result.xid, conversation.settings.xidPolicy.binds {
            let holder = try await store.xidBinder(conversationID: conversation.id, xid: xid)
            guard holder == "browser:\(browserID(request) ?? "")" else { throw Self.xidInUse }
        }
        return result
    }

    /// A form post's identity and CSRF check, without a conversation's policy (sign-in).
    func forSiteForm(_ request: Request, form: Form, conversationID: Int64) throws -> Resolved {
        guard let browserID = browserID(request) else { throw AppError.badCSRF }
        var result: Resolved
        if let rawXID = form["xid"], !rawXID.isEmpty {
            let xid = try ParticipantIdentity.validatedXID(rawXID)
            result = resolved(
                .external(xid), xid: xid, browserID: browserID, conversationID: conversationID, cookie: nil)
            result.sig = form["sig"]
        } else {
            result = resolved(
                .anonymous(browserID), xid: nil, browserID: browserID, conversationID: conversationID, cookie: nil)
        }
        guard let given = form["csrf"], ConstantTime.equal(Array(given.utf8), Array(result.csrf.utf8)) else {
            throw AppError.badCSRF
        }
        return result
    }

    private func browserID(_ request: Request) -> String? {
        request.cookies[Self.browserCookie].flatMap { signer.verified($0.value, purpose: "browser") }
    }

    private func resolved(
        _ identity: ParticipantIdentity, xid: String?, browserID: String, conversationID: Int64, cookie: Cookie?
    ) -> Resolved {
        let key: String =
            switch identity {
            case .id(let id): "id:\(id)"
            case .external(let xid): "xid:\(conversationID):\(xid)\u{0}browser:\(browserID)"
            case .anonymous(let browserID): "browser:\(browserID)"
            }
        return Resolved(
            identity: identity, xid: xid, sig: nil, newCookie: cookie,
            csrf: signer.signature(of: key, purpose: "csrf"))
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
