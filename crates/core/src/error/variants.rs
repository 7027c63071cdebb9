//! The code of an openmls error, found by matching its variants.
//!
//! openmls 0.9 has an error enum per operation (`ProposalError`, `CreateCommitError`,
//! `SelfUpdateError`, `LeaveGroupError`, ...), nested a few levels deep. [`Code`] walks them by
//! variant: a variant that means something the application can act on gets its code (a missing
//! PSK, an unknown member or proposal, an invalid extension, a storage fault, a library bug), and
//! the others leave the choice to the call site, which knows what it was doing (`fallback` of
//! [`typed`]). The mapping is exhaustive where openmls's enums are: a new variant in a later
//! openmls is a compile error here, not a silently different code.

use std::fmt;

use openmls::prelude::*;
use openmls::schedule::errors::PskError;
use openmls::treesync::errors::LeafNodeValidationError;

use super::{validation_code, with_code, Error, ErrorCode};

/// The code an error means, if it means a specific one.
pub(crate) trait Code {
    fn code(&self) -> Option<ErrorCode>;
}

/// An openmls error as this crate's: its code by variant, else `fallback`; its text, made readable.
pub(crate) fn typed<E: Code + fmt::Display>(err: E, fallback: ErrorCode) -> Error {
    with_code(err.code().unwrap_or(fallback), err)
}

impl<T: Code> Code for &T {
    fn code(&self) -> Option<ErrorCode> {
        (*self).code()
    }
}

/// The storage errors openmls passes through: the store's, classified by the backend's code.
impl Code for crate::storage::DbError {
    fn code(&self) -> Option<ErrorCode> {
        Some(crate::storage::error_code(self))
    }
}

/// The store of the stand-alone helpers that need no state (a join proposal is only signed).
impl Code for openmls_memory_storage::MemoryStorageError {
    fn code(&self) -> Option<ErrorCode> {
        Some(ErrorCode::Storage)
    }
}

impl Code for LibraryError {
    fn code(&self) -> Option<ErrorCode> {
        Some(ErrorCode::Internal)
    }
}

impl Code for MlsGroupStateError {
    fn code(&self) -> Option<ErrorCode> {
        Some(super::group_state_code(self))
    }
}

impl Code for PskError {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            PskError::LibraryError(_) => Some(ErrorCode::Internal),
            PskError::KeyNotFound => Some(ErrorCode::PskNotFound),
            PskError::Storage => Some(ErrorCode::Storage),
            PskError::TooManyKeys
            | PskError::TypeMismatch { .. }
            | PskError::UsageMismatch { .. }
            | PskError::UsageConflict { .. }
            | PskError::UsageDuplicate { .. }
            | PskError::NonceLengthMismatch { .. } => None,
        }
    }
}

impl Code for InvalidExtensionError {
    fn code(&self) -> Option<ErrorCode> {
        Some(ErrorCode::InvalidExtension)
    }
}

impl Code for LeafNodeValidationError {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            LeafNodeValidationError::UnsupportedExtensions | LeafNodeValidationError::ExtensionsNotInCapabilities => {
                Some(ErrorCode::InvalidExtension)
            }
            _ => None,
        }
    }
}

impl Code for ProposalValidationError {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            ProposalValidationError::LibraryError(_) => Some(ErrorCode::Internal),
            ProposalValidationError::UnknownMember | ProposalValidationError::UnknownMemberRemoval => Some(ErrorCode::UnknownMember),
            ProposalValidationError::InsufficientCapabilities => Some(ErrorCode::InvalidKeyPackage),
            ProposalValidationError::Psk(e) => e.code(),
            ProposalValidationError::LeafNodeValidation(e) => e.code(),
            _ => None,
        }
    }
}

impl Code for CreateCommitError {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            CreateCommitError::LibraryError(_) => Some(ErrorCode::Internal),
            CreateCommitError::MissingProposal => Some(ErrorCode::UnknownProposal),
            CreateCommitError::PskError(e) => e.code(),
            CreateCommitError::ProposalValidationError(e) => e.code(),
            CreateCommitError::InvalidExtensionError(e) => e.code(),
            CreateCommitError::GroupContextExtensionsProposalValidationError(_) => Some(ErrorCode::InvalidExtension),
            CreateCommitError::LeafNodeValidation(e) => e.code(),
            _ => None,
        }
    }
}

impl<S: Code> Code for CommitBuilderStageError<S> {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            CommitBuilderStageError::LibraryError(_) => Some(ErrorCode::Internal),
            CommitBuilderStageError::KeyStoreError(s) => s.code(),
        }
    }
}

/// The variants that most operation errors share, and those that wrap the errors above.
macro_rules! code_by_variant {
    ($ty:ident { $($variant:ident($inner:pat) => $code:expr),* $(; $($unit:ident => $unit_code:expr),*)? $(,)? }) => {
        impl<S: Code> Code for $ty<S> {
            fn code(&self) -> Option<ErrorCode> {
                #[allow(unreachable_patterns)]
                match self {
                    $($ty::$variant($inner) => $code,)*
                    $($($ty::$unit => $unit_code,)*)?
                    _ => None,
                }
            }
        }
    };
}

code_by_variant!(AddMembersError {
    LibraryError(_) => Some(ErrorCode::Internal),
    CreateCommitError(e) => e.code(),
    CommitBuilderStageError(e) => e.code(),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(SwapMembersError {
    LibraryError(_) => Some(ErrorCode::Internal),
    CreateCommitError(e) => e.code(),
    CommitBuilderStageError(e) => e.code(),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code();
    UnknownMember => Some(ErrorCode::UnknownMember),
});

code_by_variant!(SelfUpdateError {
    LibraryError(_) => Some(ErrorCode::Internal),
    CreateCommitError(e) => e.code(),
    CommitBuilderStageError(e) => e.code(),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(CommitToPendingProposalsError {
    LibraryError(_) => Some(ErrorCode::Internal),
    CreateCommitError(e) => e.code(),
    CommitBuilderStageError(e) => e.code(),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(LeaveGroupError {
    LibraryError(_) => Some(ErrorCode::Internal),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(ProposeAddMemberError {
    LibraryError(_) => Some(ErrorCode::Internal),
    GroupStateError(e) => e.code(),
    LeafNodeValidation(e) => e.code(),
    StorageError(e) => e.code();
    UnsupportedExtensions => Some(ErrorCode::InvalidExtension),
});

code_by_variant!(ProposeRemoveMemberError {
    LibraryError(_) => Some(ErrorCode::Internal),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code();
    UnknownMember => Some(ErrorCode::UnknownMember),
});

code_by_variant!(ProposeSelfUpdateError {
    LibraryError(_) => Some(ErrorCode::Internal),
    GroupStateError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(CreateGroupContextExtProposalError {
    LibraryError(_) => Some(ErrorCode::Internal),
    KeyPackageExtensionSupport(_) => Some(ErrorCode::InvalidExtension),
    Extension(_) => Some(ErrorCode::InvalidExtension),
    InvalidExtensionError(_) => Some(ErrorCode::InvalidExtension),
    LeafNodeValidation(e) => e.code(),
    MlsGroupStateError(e) => e.code(),
    CreateCommitError(e) => e.code(),
    CommitBuilderStageError(e) => e.code(),
    StorageError(e) => e.code(),
});

code_by_variant!(ProposalError {
    LibraryError(_) => Some(ErrorCode::Internal),
    ProposeAddMemberError(e) => e.code(),
    ProposeSelfUpdateError(e) => e.code(),
    ProposeRemoveMemberError(e) => e.code(),
    GroupStateError(e) => e.code(),
    ValidationError(e) => Some(validation_code(e)),
    CreateGroupContextExtProposalError(e) => e.code(),
    InvalidExtension(_) => Some(ErrorCode::InvalidExtension),
    StorageError(e) => e.code(),
});

code_by_variant!(ExternalCommitBuilderError {
    LibraryError(_) => Some(ErrorCode::Internal),
    InvalidProposal(e) => Some(validation_code(e)),
    StorageError(e) => e.code(),
});

code_by_variant!(ExternalCommitBuilderFinalizeError {
    LibraryError(_) => Some(ErrorCode::Internal),
    StorageError(e) => e.code(),
});

impl Code for ExportGroupInfoError {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            ExportGroupInfoError::LibraryError(_) => Some(ErrorCode::Internal),
            ExportGroupInfoError::GroupStateError(e) => e.code(),
            ExportGroupInfoError::InvalidExtensionError(_) => Some(ErrorCode::InvalidExtension),
        }
    }
}

impl<S: Code> Code for RemoveProposalError<S> {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            RemoveProposalError::ProposalNotFound => Some(ErrorCode::UnknownProposal),
            RemoveProposalError::Storage(e) => e.code(),
        }
    }
}

code_by_variant!(NewGroupError {
    LibraryError(_) => Some(ErrorCode::Internal),
    StorageError(e) => e.code(),
    InvalidExtensions(_) => Some(ErrorCode::InvalidExtension),
    UnsupportedCiphersuite(_) => Some(ErrorCode::UnsupportedCiphersuite);
    NoMatchingKeyPackage => Some(ErrorCode::NoMatchingKeyPackage),
    UnsupportedExtensionType => Some(ErrorCode::InvalidExtension),
});

/// Tracking a group from its GroupInfo (a delivery service's `PublicGroup`).
impl<S: Code> Code for CreationFromExternalError<S> {
    fn code(&self) -> Option<ErrorCode> {
        match self {
            CreationFromExternalError::LibraryError(_) => Some(ErrorCode::Internal),
            CreationFromExternalError::WriteToStorageError(s) => s.code(),
            CreationFromExternalError::InvalidGroupInfoSignature => Some(ErrorCode::InvalidSignature),
            CreationFromExternalError::UnknownSender => Some(ErrorCode::UnknownSender),
            CreationFromExternalError::UnsupportedCiphersuite(_) => Some(ErrorCode::UnsupportedCiphersuite),
            CreationFromExternalError::LeafNodeValidation(e) => e.code(),
            CreationFromExternalError::TreeSyncError(_)
            | CreationFromExternalError::TreeHashMismatch
            | CreationFromExternalError::UnsupportedMlsVersion
            | CreationFromExternalError::UnmergedLeafNotADescendant
            | CreationFromExternalError::IntermediateNodeMissingUnmergedLeaf
            | CreationFromExternalError::DuplicateEncryptionKey
            | CreationFromExternalError::DuplicateSignatureKey => None,
        }
    }
}
