//! The Promise/`Sync` twins of a group operation, written once.
//!
//! Each entry declares one operation: its doc (string literals, one per line: a `///` comment
//! that passes through `macro_rules!` reaches napi-rs as a raw string, which it would print with
//! its `r"`), its two JavaScript names, its arguments, the
//! preparation of owned inputs from them (conversions that may fail, checked before anything
//! runs), and the call on the core group. The macro writes both methods: the Promise one runs the
//! call on the libuv thread pool, the `Sync` one on the calling thread, with the same preparation,
//! the same call and the same result conversion. The kinds:
//!
//! - `commit`: a commit operation; the Promise method also takes an optional `AbortSignal`.
//! - `proposal`: a proposal, returned as its message and reference.
//! - `unit`: an operation that returns nothing (the proposal queue, discarding a commit).
//! - `replay`: a merge, which returns the messages the future-epoch buffer kept for the new
//!   epoch, processed.
//!
//! Each pair becomes its own `#[napi] impl MlsGroup` block: napi-rs reads the methods of every
//! block of a class, and an attribute macro only sees methods that are already written out.

/// See the module documentation.
macro_rules! group_twins {
    ($(
        $($doc:literal)+
        $kind:ident fn $promise:ident / $sync:ident ($($arg:ident: $ty:ty),* $(,)?) { $($prep:stmt;)* } => |$g:ident| $op:expr;
    )+) => {
        $( group_twins!(@$kind [$(#[doc = $doc])*] $promise $sync [$($arg: $ty),*] [$($prep;)*] $g $op); )+
    };
    (@commit $($rest:tt)*) => {
        group_twins!(@emit $($rest)* ;
            "Promise<NativeCommitMessages>" CommitTask NativeCommitMessages, commit_messages
            "On the libuv thread pool; `signal` cancels it while it waits for a pool thread."
            [signal: Option<AbortSignal>] signal);
    };
    (@proposal $($rest:tt)*) => {
        group_twins!(@emit $($rest)* ;
            "Promise<NativeProposalMessage>" ProposalTask NativeProposalMessage, proposal_to_js
            "On the libuv thread pool." [] None);
    };
    (@unit $($rest:tt)*) => {
        group_twins!(@emit $($rest)* ; "Promise<void>" UnitTask (), unit_to_js "On the libuv thread pool." [] None);
    };
    (@replay $($rest:tt)*) => {
        group_twins!(@emit $($rest)* ;
            "Promise<NativeProcessedBatchItem[]>" ReplayTask Vec<NativeProcessedBatchItem>, processed_batch_to_js
            "On the libuv thread pool." [] None);
    };
    (@emit [$($doc:tt)*] $promise:ident $sync:ident [$($arg:ident: $ty:ty),*] [$($prep:stmt;)*] $g:ident $op:expr ;
        $ts:literal $task:ident $out:ty, $to_js:ident $where:literal [$($signal_arg:tt)*] $signal:expr) => {
        #[napi]
        impl MlsGroup {
            $($doc)*
            #[doc = ""]
            #[doc = $where]
            #[napi(ts_return_type = $ts)]
            pub fn $promise(&self, $($arg: $ty,)* $($signal_arg)*) -> Result<$task> {
                run(|| {
                    $($prep;)*
                    Ok(group_task(&self.inner, $signal, move |$g: &Group| $op, $to_js))
                })
            }

            $($doc)*
            #[doc = ""]
            #[doc = "On the calling thread."]
            #[napi]
            pub fn $sync(&self, $($arg: $ty),*) -> Result<$out> {
                run(|| {
                    $($prep;)*
                    let $g: &Group = &self.inner;
                    $op
                })
                .and_then(|value| $to_js(value).map_err(from_napi))
            }
        }
    };
}

pub(crate) use group_twins;
