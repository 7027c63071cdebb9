//! End-to-end conversations through the core API, and the bad inputs a receiver must survive.

use std::sync::Arc;

fn code<T: std::fmt::Debug>(r: openmls_node_core::Result<T>) -> ErrorCode {
    r.unwrap_err().code
}

use openmls_node_core::config::{CreateConfigSpec, JoinConfigSpec};
use openmls_node_core::group::{CommitOutput, CreateOptions, Group, JoinOptions};
use openmls_node_core::identity::{basic_credential_with_key, generate_signer};
use openmls_node_core::key_package::{create_key_package, key_package_to_bytes, parse_key_package};
use openmls_node_core::processed::ProcessedContent;
use openmls_node_core::sender::SenderInfo;
use openmls_node_core::{CryptoProviderKind, ErrorCode, Provider, SignatureKeyPair};

struct Client {
    name: &'static str,
    provider: Arc<Provider>,
    signer: Arc<SignatureKeyPair>,
}

impl Client {
    fn new(name: &'static str, kind: CryptoProviderKind, suite: u16) -> Self {
        let provider = Arc::new(Provider::new(kind).unwrap());
        let scheme = provider.ciphersuite(suite).unwrap().signature_algorithm();
        Self { name, provider, signer: Arc::new(generate_signer(scheme).unwrap()) }
    }

    fn key_package(&self, suite: u16) -> Vec<u8> {
        let cs = self.provider.ciphersuite(suite).unwrap();
        let kp =
            create_key_package(&self.provider, cs, &self.signer, basic_credential_with_key(self.name.as_bytes(), &self.signer)).unwrap();
        key_package_to_bytes(&kp).unwrap()
    }

    fn create_group(&self, suite: u16, tree_ext: bool) -> Arc<Group> {
        Group::create(
            self.provider.clone(),
            self.signer.clone(),
            basic_credential_with_key(self.name.as_bytes(), &self.signer),
            CreateOptions {
                group_id: None,
                config: CreateConfigSpec {
                    ciphersuite: suite,
                    join: JoinConfigSpec { use_ratchet_tree_extension: Some(tree_ext), ..Default::default() },
                    ..Default::default()
                },
            },
        )
        .unwrap()
    }

    fn join(&self, welcome: &[u8], tree: Option<Vec<u8>>) -> openmls_node_core::Result<Arc<Group>> {
        Group::join(self.provider.clone(), self.signer.clone(), welcome, JoinOptions { ratchet_tree: tree, ..Default::default() })
    }
}

fn apply_commit(group: &Group, commit: &[u8]) {
    let processed = group.process_message(commit).unwrap();
    match processed.content {
        ProcessedContent::Commit(staged) => assert!(group.merge_staged_commit(&staged).unwrap().is_empty()),
        other => panic!("expected a commit, got {other:?}"),
    }
}

fn assert_agree(groups: &[&Group]) {
    let first = groups[0];
    for g in groups {
        assert_eq!(g.epoch().unwrap(), first.epoch().unwrap());
        assert_eq!(g.epoch_authenticator().unwrap(), first.epoch_authenticator().unwrap());
        assert_eq!(g.export_secret("test", b"ctx", 32).unwrap(), first.export_secret("test", b"ctx", 32).unwrap());
    }
}

fn three_party(kind: CryptoProviderKind, suite: u16) {
    let alice = Client::new("alice", kind, suite);
    let bob = Client::new("bob", kind, suite);
    let carol = Client::new("carol", kind, suite);
    let a = alice.create_group(suite, false);

    let bob_kp = parse_key_package(&alice.provider, &bob.key_package(suite)).unwrap();
    let CommitOutput { welcome, .. } = a.add_members(&[bob_kp]).unwrap();
    a.merge_pending_commit().unwrap();
    let b = bob.join(&welcome.unwrap(), Some(a.export_ratchet_tree().unwrap())).unwrap();
    assert_agree(&[&a, &b]);

    let carol_kp = parse_key_package(&bob.provider, &carol.key_package(suite)).unwrap();
    let out = b.add_members(&[carol_kp]).unwrap();
    b.merge_pending_commit().unwrap();
    apply_commit(&a, &out.commit);
    let c = carol.join(&out.welcome.unwrap(), Some(b.export_ratchet_tree().unwrap())).unwrap();
    assert_agree(&[&a, &b, &c]);
    assert_eq!(c.members().unwrap().len(), 3);

    let msg = c.create_message(b"hi from carol", Some(b"meta")).unwrap();
    for g in [&a, &b] {
        let p = g.process_message(&msg).unwrap();
        assert_eq!(p.sender, SenderInfo::Member(2));
        assert_eq!(p.aad, b"meta");
        assert_eq!(p.credential.serialized_content, b"carol");
        match p.content {
            ProcessedContent::Application(data) => assert_eq!(data, b"hi from carol"),
            other => panic!("{other:?}"),
        }
    }

    let upd = b.self_update().unwrap();
    b.merge_pending_commit().unwrap();
    apply_commit(&a, &upd.commit);
    apply_commit(&c, &upd.commit);
    assert_agree(&[&a, &b, &c]);

    let rm = a.remove_members(&[2]).unwrap();
    a.merge_pending_commit().unwrap();
    apply_commit(&b, &rm.commit);
    let p = c.process_message(&rm.commit).unwrap();
    let ProcessedContent::Commit(staged) = p.content else { panic!() };
    assert!(staged.view().unwrap().self_removed);
    c.merge_staged_commit(&staged).unwrap();
    assert!(!c.is_active().unwrap());
    assert_eq!(c.create_message(b"x", None).unwrap_err().code, ErrorCode::GroupInactive);
    assert_agree(&[&a, &b]);
}

#[test]
fn three_party_conversation_on_every_suite_of_both_providers() {
    for kind in [CryptoProviderKind::RustCrypto, CryptoProviderKind::Libcrux] {
        for suite in Provider::new(kind).unwrap().supported_ciphersuites() {
            three_party(kind, suite);
        }
    }
}

#[test]
fn hostile_inputs_give_typed_errors_and_leave_the_group_working() {
    let kind = CryptoProviderKind::RustCrypto;
    let alice = Client::new("alice", kind, 1);
    let bob = Client::new("bob", kind, 1);
    let a = alice.create_group(1, true);
    let kp = parse_key_package(&alice.provider, &bob.key_package(1)).unwrap();
    let out = a.add_members(&[kp]).unwrap();
    a.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let b = bob.join(&welcome, None).unwrap();

    let m1 = a.create_message(b"one", None).unwrap();
    assert_eq!(code(b.process_message(b"garbage")), ErrorCode::MalformedMessage);
    assert_eq!(code(b.process_message(&m1[..m1.len() - 3])), ErrorCode::MalformedMessage);
    assert_eq!(code(b.process_message(&welcome)), ErrorCode::WrongMessageType);
    let mut flipped = m1.clone();
    let n = flipped.len();
    flipped[n - 5] ^= 1;
    assert!(matches!(code(b.process_message(&flipped)), ErrorCode::DecryptionFailed | ErrorCode::MalformedMessage));

    // A message for another group.
    let other = alice.create_group(1, false);
    let foreign = other.create_message(b"elsewhere", None).unwrap();
    assert_eq!(code(b.process_message(&foreign)), ErrorCode::WrongGroup);

    // The real message still decrypts after all that, once; then it is a replay.
    assert!(matches!(b.process_message(&m1).unwrap().content, ProcessedContent::Application(_)));
    assert_eq!(code(b.process_message(&m1)), ErrorCode::ReplayedMessage);

    // A message from an epoch the group has left.
    let old = a.create_message(b"old", None).unwrap();
    let upd = a.self_update().unwrap();
    a.merge_pending_commit().unwrap();
    apply_commit(&b, &upd.commit);
    let e = b.process_message(&old).unwrap_err();
    assert_eq!(e.code, ErrorCode::WrongEpoch);

    // Own messages cannot be processed by their sender.
    let mine = b.create_message(b"mine", None).unwrap();
    assert!(matches!(b.process_message(&mine).map(|p| p.content), Ok(ProcessedContent::OwnPrivateMessage) | Err(_)));

    // State errors.
    assert_eq!(code(a.merge_pending_commit()), ErrorCode::NoPendingCommit);
    assert_eq!(code(a.remove_members(&[7])), ErrorCode::UnknownMember);
    assert_eq!(code(a.export_secret("x", b"", 0)), ErrorCode::InvalidArgument);

    // Still working both ways.
    let m2 = b.create_message(b"still here", None).unwrap();
    match a.process_message(&m2).unwrap().content {
        ProcessedContent::Application(d) => assert_eq!(d, b"still here"),
        other => panic!("{other:?}"),
    }
    assert_agree(&[&a, &b]);
}

#[test]
fn a_failed_join_keeps_the_key_package_for_a_retry() {
    let kind = CryptoProviderKind::RustCrypto;
    let alice = Client::new("alice", kind, 1);
    let bob = Client::new("bob", kind, 1);
    let a = alice.create_group(1, false);
    let kp = parse_key_package(&alice.provider, &bob.key_package(1)).unwrap();
    let welcome = a.add_members(&[kp]).unwrap().welcome.unwrap();
    a.merge_pending_commit().unwrap();
    assert_eq!(bob.join(&welcome, None).unwrap_err().code, ErrorCode::MissingRatchetTree);
    let b = bob.join(&welcome, Some(a.export_ratchet_tree().unwrap())).unwrap();
    assert_agree(&[&a, &b]);
    // A Welcome nobody here has a key package for.
    let carol = Client::new("carol", kind, 1);
    assert_eq!(carol.join(&welcome, None).unwrap_err().code, ErrorCode::NoMatchingKeyPackage);
}
