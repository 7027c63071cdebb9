//! The error type of openmls-node, with stable string codes.
//!
//! Every failure that reaches JavaScript carries one [`ErrorCode`]. The codes are part of the public API:
//! applications branch on them, so a code is never renamed or reused for a different meaning.
//! Messages are human readable and never contain key material.

use std::fmt;

use openmls::prelude::*;
use openmls::schedule::errors::PskError;

mod variants;
pub(crate) use variants::typed;

/// Declares the error codes once: the enum, its list, and the stable strings.
macro_rules! error_codes {
    ($($(#[doc = $doc:tt])* $name:ident => $code:tt,)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// All codes, for documentation and exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The stable string form, as seen by JavaScript in `error.code`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => $code,)*
                }
            }
        }
    };
}

/// Calls `$callback! { $(#[doc = "..."])* Name => "ERR_CODE", ... }` with the one list of error
/// codes: this crate declares [`ErrorCode`] from it, and the N-API binding the JavaScript list and
/// type, so the codes are written once.
#[macro_export]
macro_rules! for_each_error_code {
    ($callback:ident) => {
        $callback! {
            /// An argument was out of range or of the wrong shape (bad length, unknown enum value, ...).
            InvalidArgument => "ERR_INVALID_ARGUMENT",
            /// The ciphersuite is unknown or the chosen crypto provider does not support it.
            UnsupportedCiphersuite => "ERR_UNSUPPORTED_CIPHERSUITE",
            /// Bytes could not be decoded as the expected MLS structure (garbage, truncated, trailing bytes).
            MalformedMessage => "ERR_MALFORMED_MESSAGE",
            /// The message decoded, but it is not the kind of message this call takes (a Welcome given to
            /// `processMessage`, say).
            WrongMessageType => "ERR_WRONG_MESSAGE_TYPE",
            /// The message belongs to another group.
            WrongGroup => "ERR_WRONG_GROUP",
            /// The message is for an epoch this group is not in (too old, or from the future).
            WrongEpoch => "ERR_WRONG_EPOCH",
            /// The message was already processed: its key was deleted for forward secrecy.
            ReplayedMessage => "ERR_REPLAYED_MESSAGE",
            /// The message was sent by this client itself; MLS does not let a sender decrypt its own messages.
            OwnMessage => "ERR_OWN_MESSAGE",
            /// Decryption failed: the ciphertext or its sender data is not authentic.
            DecryptionFailed => "ERR_DECRYPTION_FAILED",
            /// A signature, membership tag or confirmation tag did not verify.
            InvalidSignature => "ERR_INVALID_SIGNATURE",
            /// The sender is not a member of the group.
            UnknownSender => "ERR_UNKNOWN_SENDER",
            /// The message decoded and authenticated but breaks an MLS validation rule.
            ValidationFailed => "ERR_VALIDATION_FAILED",
            /// A received commit is invalid.
            InvalidCommit => "ERR_INVALID_COMMIT",
            /// The KeyPackage is invalid (bad signature, unsupported version, expired lifetime, ...).
            InvalidKeyPackage => "ERR_INVALID_KEY_PACKAGE",
            /// No KeyPackage of this client matches the Welcome.
            NoMatchingKeyPackage => "ERR_NO_MATCHING_KEY_PACKAGE",
            /// The Welcome is invalid or cannot be decrypted.
            InvalidWelcome => "ERR_INVALID_WELCOME",
            /// A Welcome without the ratchet-tree extension was processed without a ratchet tree.
            MissingRatchetTree => "ERR_MISSING_RATCHET_TREE",
            /// The operation needs a pending commit and there is none.
            NoPendingCommit => "ERR_NO_PENDING_COMMIT",
            /// The operation is not possible while a commit is pending; merge or clear it first.
            PendingCommit => "ERR_PENDING_COMMIT",
            /// Application messages cannot be sent while proposals are queued; commit them first.
            PendingProposals => "ERR_PENDING_PROPOSALS",
            /// The group is no longer active: this member was removed.
            GroupInactive => "ERR_GROUP_INACTIVE",
            /// This group handle no longer speaks for its group: a later join of the same group
            /// (`replaceOldGroup`) replaced it, or it was freed. Use the newer handle, or `loadGroup`.
            StaleHandle => "ERR_STALE_HANDLE",
            /// A Promise operation on this group has not settled yet: a synchronous call would overtake
            /// it. Await it first (operations on one group take effect in call order).
            GroupBusy => "ERR_GROUP_BUSY",
            /// A leaf index does not name a member of the group.
            UnknownMember => "ERR_UNKNOWN_MEMBER",
            /// A staged commit does not belong to this group or epoch, or was already merged.
            StaleStagedCommit => "ERR_STALE_STAGED_COMMIT",
            /// This Welcome was already turned into a group.
            WelcomeUsed => "ERR_WELCOME_USED",
            /// The identity or signature key is invalid.
            InvalidIdentity => "ERR_INVALID_IDENTITY",
            /// An extension is malformed or not allowed where it was given.
            InvalidExtension => "ERR_INVALID_EXTENSION",
            /// No queued proposal has the given reference.
            UnknownProposal => "ERR_UNKNOWN_PROPOSAL",
            /// A PSK the operation needs is not stored.
            PskNotFound => "ERR_PSK_NOT_FOUND",
            /// The application's credential validator rejected a credential.
            CredentialRejected => "ERR_CREDENTIAL_REJECTED",
            /// The application's credential validator threw instead of answering. Nothing changed;
            /// retry once it can answer. The thrown error is the `cause`.
            ValidatorFailed => "ERR_VALIDATOR_FAILED",
            /// No group with this id is stored.
            UnknownGroup => "ERR_UNKNOWN_GROUP",
            /// The storage layer failed.
            Storage => "ERR_STORAGE",
            /// The database is corrupt, truncated, or not an openmls-node database.
            StorageCorrupt => "ERR_STORAGE_CORRUPT",
            /// The database is open elsewhere (another provider in this process, or another process).
            StorageLocked => "ERR_STORAGE_LOCKED",
            /// The disk (or the database's size limit) is full; the operation was rolled back.
            StorageFull => "ERR_STORAGE_FULL",
            /// The database is read-only; the operation was rolled back.
            StorageReadOnly => "ERR_STORAGE_READONLY",
            /// The database was written by a newer openmls-node.
            StorageVersion => "ERR_STORAGE_VERSION",
            /// The storage key is wrong or missing (or given for an unencrypted database).
            WrongStorageKey => "ERR_WRONG_STORAGE_KEY",
            /// The provider was closed.
            StorageClosed => "ERR_STORAGE_CLOSED",
            /// The storage server (PostgreSQL) cannot be reached, or the connection broke during
            /// the operation: it was rolled back (or, if it broke while committing, may have been
            /// saved); the group reloads before its next operation. Retry.
            StorageUnavailable => "ERR_STORAGE_UNAVAILABLE",
            /// A cryptographic primitive failed.
            Crypto => "ERR_CRYPTO",
            /// The operation was aborted through its `AbortSignal` before it started; nothing changed.
            Aborted => "ERR_ABORTED",
            /// The message is for a later epoch and was kept in the group's future-epoch buffer: it
            /// comes back, processed, from the merge that enters its epoch.
            MessageBuffered => "ERR_MESSAGE_BUFFERED",
            /// The message is for a later epoch, and the group's future-epoch buffer is full: it
            /// was not kept.
            BufferFull => "ERR_BUFFER_FULL",
            /// A bug: an internal invariant broke, or a panic was caught at the boundary.
            Internal => "ERR_INTERNAL",
        }
    };
}

for_each_error_code!(error_codes);

impl ErrorCode {
    /// Whether a failure with this code may have left the in-memory group ahead of storage (a
    /// write failed, or a bug), so the group must be reloaded.
    pub fn may_leave_partial_state(self) -> bool {
        matches!(
            self,
            ErrorCode::Storage
                | ErrorCode::StorageCorrupt
                | ErrorCode::StorageLocked
                | ErrorCode::StorageFull
                | ErrorCode::StorageReadOnly
                | ErrorCode::StorageClosed
                | ErrorCode::StorageUnavailable
                | ErrorCode::Crypto
                | ErrorCode::Internal
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with a stable [`ErrorCode`] and a readable message free of secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// A readable explanation.
    pub message: String,
}

impl Error {
    /// Creates an error from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// An [`ErrorCode::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// An [`ErrorCode::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// Prefixes the message with what was being done, keeping the code.
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// The result type of the core crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error`] from an openmls error: its `Display` text, made readable, under the given code.
pub(crate) fn with_code(code: ErrorCode, err: impl fmt::Display) -> Error {
    Error::new(code, readable(&err.to_string()))
}

/// Makes an upstream message fit for an application developer: no rustdoc link markup, no
/// trailing period doubled by our own context, and known typos mended.
pub(crate) fn readable(text: &str) -> String {
    let mut out = text.replace("[`", "").replace("`]", "").replace('`', "");
    for (typo, fixed) in [("recieve", "receive"), ("occured", "occurred"), ("extionsion", "extension"), ("ciphersuit ", "ciphersuite ")] {
        out = out.replace(typo, fixed);
    }
    out.trim_end_matches('.').to_string()
}

/// What went wrong while decoding, in words (tls_codec's own text names Rust types).
fn decode_problem(err: &tls_codec::Error) -> &'static str {
    match err {
        tls_codec::Error::EndOfStream => "the bytes end too early (truncated)",
        tls_codec::Error::TrailingData => "there are extra bytes after the structure",
        tls_codec::Error::InvalidVectorLength => "a length prefix is invalid",
        tls_codec::Error::UnknownValue(_) => "a field holds a value this version does not know",
        tls_codec::Error::InvalidInput | tls_codec::Error::DecodingError(_) => "a field holds an invalid value or length",
        _ => "the encoding is invalid",
    }
}

impl From<tls_codec::Error> for Error {
    fn from(err: tls_codec::Error) -> Self {
        // openmls's own decoding messages ("... is not allowed in the group context") help; the
        // generic ones name Rust types ("decode Option<T>") and are left out.
        let detail = match &err {
            tls_codec::Error::DecodingError(text) if !text.contains('<') && !text.contains("::") && !text.contains("bytes were read") => {
                format!(" ({})", readable(text))
            }
            _ => String::new(),
        };
        Error::new(ErrorCode::MalformedMessage, format!("not a valid MLS encoding: {}{detail}", decode_problem(&err)))
    }
}

impl From<LibraryError> for Error {
    fn from(_: LibraryError) -> Self {
        // LibraryError's text is a Debug dump of openmls internals: it says nothing a caller can use.
        Error::internal("openmls reported an internal error (a bug); the operation was abandoned, please report it")
    }
}

impl From<CryptoError> for Error {
    fn from(err: CryptoError) -> Self {
        match err {
            CryptoError::UnsupportedCiphersuite => {
                with_code(ErrorCode::UnsupportedCiphersuite, "ciphersuite not supported by the crypto provider")
            }
            CryptoError::UnsupportedSignatureScheme => with_code(ErrorCode::UnsupportedCiphersuite, "signature scheme not supported"),
            other => Error::new(ErrorCode::Crypto, format!("a cryptographic operation failed: {}", readable(&other.to_string()))),
        }
    }
}

/// The code of a group state error.
fn group_state_code(err: &MlsGroupStateError) -> ErrorCode {
    match err {
        MlsGroupStateError::UseAfterEviction => ErrorCode::GroupInactive,
        MlsGroupStateError::PendingCommit => ErrorCode::PendingCommit,
        MlsGroupStateError::NoPendingCommit => ErrorCode::NoPendingCommit,
        MlsGroupStateError::PendingProposal => ErrorCode::PendingProposals,
        MlsGroupStateError::PendingProposalNotFound => ErrorCode::UnknownProposal,
        MlsGroupStateError::LibraryError(_) => ErrorCode::Internal,
    }
}

impl From<MlsGroupStateError> for Error {
    fn from(err: MlsGroupStateError) -> Self {
        with_code(group_state_code(&err), err)
    }
}

/// The code for a message that failed [`ValidationError`] checks.
fn validation_code(err: &ValidationError) -> ErrorCode {
    use openmls::framing::errors::{MessageDecryptionError as D, SecretTreeError as S};
    match err {
        ValidationError::WrongGroupId => ErrorCode::WrongGroup,
        ValidationError::WrongEpoch | ValidationError::NoPastEpochData => ErrorCode::WrongEpoch,
        ValidationError::InvalidSignature
        | ValidationError::InvalidMembershipTag
        | ValidationError::MissingMembershipTag
        | ValidationError::MissingConfirmationTag
        | ValidationError::InvalidLeafNodeSignature => ErrorCode::InvalidSignature,
        ValidationError::UnknownMember | ValidationError::UnauthorizedExternalSender => ErrorCode::UnknownSender,
        ValidationError::UnableToDecrypt(d) => match d {
            D::SecretTreeError(S::SecretReuseError) => ErrorCode::ReplayedMessage,
            D::SecretTreeError(S::TooDistantInThePast) => ErrorCode::ReplayedMessage,
            D::SecretTreeError(S::RatchetTypeError) => ErrorCode::OwnMessage,
            D::SecretTreeError(S::IndexOutOfBounds) => ErrorCode::UnknownSender,
            D::MalformedContent => ErrorCode::MalformedMessage,
            D::LibraryError(_) => ErrorCode::Internal,
            _ => ErrorCode::DecryptionFailed,
        },
        ValidationError::LibraryError(_) => ErrorCode::Internal,
        ValidationError::KeyPackageVerifyError(_) => ErrorCode::InvalidKeyPackage,
        _ => ErrorCode::ValidationFailed,
    }
}

impl From<ValidationError> for Error {
    fn from(err: ValidationError) -> Self {
        with_code(validation_code(&err), err)
    }
}

impl<S: fmt::Debug + fmt::Display> From<ProcessMessageError<S>> for Error {
    fn from(err: ProcessMessageError<S>) -> Self {
        let code = match &err {
            ProcessMessageError::ValidationError(v) => validation_code(v),
            ProcessMessageError::GroupStateError(s) => return s.clone().into(),
            ProcessMessageError::InvalidCommit(StageCommitError::PskError(PskError::KeyNotFound)) => {
                return Error::new(
                    ErrorCode::PskNotFound,
                    "the commit injects a PSK this member has not stored: store it with provider.storeExternalPsk() \
                     (or keep more resumption PSKs with numberOfResumptionPsks), then process the commit again",
                )
            }
            ProcessMessageError::InvalidCommit(_) => ErrorCode::InvalidCommit,
            ProcessMessageError::StorageError(_) => ErrorCode::Storage,
            ProcessMessageError::LibraryError(_) => ErrorCode::Internal,
            ProcessMessageError::IncompatibleWireFormat
            | ProcessMessageError::UnauthorizedExternalApplicationMessage
            | ProcessMessageError::UnauthorizedExternalCommitMessage
            | ProcessMessageError::UnsupportedProposalType => ErrorCode::ValidationFailed,
        };
        with_code(code, err)
    }
}

/// What a delivery service's public view of a group refuses (`PublicGroup::process_message`).
impl From<PublicProcessMessageError> for Error {
    fn from(err: PublicProcessMessageError) -> Self {
        let code = match &err {
            PublicProcessMessageError::ValidationError(v) => validation_code(v),
            PublicProcessMessageError::InvalidCommit(StageCommitError::PskError(PskError::KeyNotFound)) => ErrorCode::PskNotFound,
            PublicProcessMessageError::InvalidCommit(_) => ErrorCode::InvalidCommit,
            PublicProcessMessageError::LibraryError(_) => ErrorCode::Internal,
            PublicProcessMessageError::IncompatibleWireFormat => ErrorCode::WrongMessageType,
            PublicProcessMessageError::UnauthorizedExternalApplicationMessage
            | PublicProcessMessageError::UnauthorizedExternalCommitMessage
            | PublicProcessMessageError::UnsupportedProposalType => ErrorCode::ValidationFailed,
        };
        with_code(code, err)
    }
}

impl<S: fmt::Debug + fmt::Display> From<WelcomeError<S>> for Error {
    fn from(err: WelcomeError<S>) -> Self {
        let code = match &err {
            WelcomeError::NoMatchingKeyPackage => {
                return Error::new(
                    ErrorCode::NoMatchingKeyPackage,
                    "no key package of this provider matches the Welcome: it was used by an earlier join, deleted, or made by another provider",
                )
            }
            WelcomeError::NoMatchingEncryptionKey
            | WelcomeError::PrivateInitKeyNotFound
            | WelcomeError::JoinerSecretNotFound => ErrorCode::NoMatchingKeyPackage,
            WelcomeError::MissingRatchetTree => ErrorCode::MissingRatchetTree,
            WelcomeError::UnsupportedCiphersuite(_) | WelcomeError::CiphersuiteMismatch => {
                ErrorCode::UnsupportedCiphersuite
            }
            WelcomeError::InvalidGroupInfoSignature | WelcomeError::ConfirmationTagMismatch => {
                ErrorCode::InvalidSignature
            }
            WelcomeError::NotAWelcomeMessage => ErrorCode::WrongMessageType,
            WelcomeError::MalformedWelcomeMessage => ErrorCode::MalformedMessage,
            WelcomeError::StorageError(_) => ErrorCode::Storage,
            WelcomeError::Psk(PskError::KeyNotFound) => {
                return Error::new(
                    ErrorCode::PskNotFound,
                    "the Welcome injects a PSK this provider has not stored: store it with provider.storeExternalPsk(), then join again \
                     (the key package was not used up)",
                )
            }
            WelcomeError::GroupAlreadyExists => {
                return Error::new(
                    ErrorCode::InvalidArgument,
                    "this provider already stores a group with this id; pass replaceOldGroup: true to replace it (rejoining after a fork or a lost state)",
                )
            }
            WelcomeError::LibraryError(_) => ErrorCode::Internal,
            _ => ErrorCode::InvalidWelcome,
        };
        with_code(code, err)
    }
}

impl<S: fmt::Debug + fmt::Display> From<MergeCommitError<S>> for Error {
    fn from(err: MergeCommitError<S>) -> Self {
        let code = match &err {
            MergeCommitError::StorageError(_) => ErrorCode::Storage,
            _ => ErrorCode::Internal,
        };
        with_code(code, err)
    }
}

impl<S: fmt::Debug + fmt::Display> From<MergePendingCommitError<S>> for Error {
    fn from(err: MergePendingCommitError<S>) -> Self {
        match err {
            MergePendingCommitError::MlsGroupStateError(s) => s.into(),
            MergePendingCommitError::MergeCommitError(m) => m.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(code.as_str().starts_with("ERR_"));
            assert!(seen.insert(code.as_str()), "duplicate {code}");
        }
    }

    #[test]
    fn display_puts_the_code_first() {
        let e = Error::new(ErrorCode::WrongEpoch, "old");
        assert_eq!(e.to_string(), "ERR_WRONG_EPOCH: old");
    }
}
