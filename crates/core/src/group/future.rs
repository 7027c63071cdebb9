//! Messages for a later epoch, kept until the group gets there (opt-in, per group).
//!
//! A delivery service may hand a member the messages of epoch n+1 before the commit that opens
//! it. Without a buffer they are `ERR_WRONG_EPOCH` and lost unless the application keeps them.
//! With one ([`Group::set_future_buffer`]), such a message is stored, bounded in count and bytes,
//! through the storage codec (sealed like everything else with a storage key), and processing
//! it reports `ERR_MESSAGE_BUFFERED`. The merge that enters its epoch processes it, in arrival
//! order, and returns the outcome with the others: nothing is dropped without a report. A full
//! buffer refuses the message with `ERR_BUFFER_FULL` (the caller still holds it).

use openmls::prelude::*;

use super::Group;
use crate::codec;
use crate::error::{Error, ErrorCode, Result};
use crate::processed::Processed;
use crate::provider::Tx;
use crate::registry::group_key;
use crate::storage::{decode_value, encode_value, store_error};
use crate::storage::{Arg, Cell, DbError};

/// The bounds of a group's future-epoch buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FutureBufferLimits {
    /// How many messages it keeps at most.
    pub max_messages: u32,
    /// How many bytes of messages it keeps at most.
    pub max_bytes: u64,
}

/// A group's future-epoch buffer: its limits (none: off) and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FutureBufferState {
    /// The limits; `None` when buffering is off.
    pub limits: Option<FutureBufferLimits>,
    /// How many messages it holds.
    pub messages: u32,
    /// How many bytes they take.
    pub bytes: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Settings {
    future_buffer: Option<FutureBufferLimits>,
}

/// A kept message: its epoch (sealed with it) and its bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    epoch: u64,
    message: Vec<u8>,
}

fn limits(tx: &Tx<'_>, group_id: &GroupId) -> Result<Option<FutureBufferLimits>> {
    let k = group_key(group_id)?;
    let row = tx
        .db()
        .blob("SELECT settings FROM openmls_node_group_settings WHERE group_id = $1", &[Arg::Bytes(&k)])
        .map_err(|e| store_error(&e))?;
    Ok(row.map(|v| decode_value::<Settings>(&v)).transpose()?.and_then(|s| s.future_buffer))
}

/// The kept messages of a group, in arrival order, with their row ids. The statement is cached:
/// every merge looks here, usually to find nothing.
fn kept(tx: &Tx<'_>, group_id: &GroupId) -> Result<Vec<(i64, Kept)>> {
    let k = group_key(group_id)?;
    let rows = tx
        .db()
        .rows("SELECT id, message FROM openmls_node_future_messages WHERE group_id = $1 ORDER BY id", &[Arg::Bytes(&k)])
        .map_err(|e| store_error(&e))?;
    rows.into_iter()
        .map(|row| match row.as_slice() {
            [Cell::Int(id), Cell::Bytes(value)] => Ok((*id, decode_value::<Kept>(value)?)),
            _ => Err(store_error(&DbError::WrongType)),
        })
        .collect()
}

fn forget(tx: &Tx<'_>, id: i64) -> Result<()> {
    tx.db().run("DELETE FROM openmls_node_future_messages WHERE id = $1", &[Arg::Int(id)]).map_err(|e| store_error(&e))?;
    Ok(())
}

/// Deletes a group's settings and kept messages (the group is being deleted).
pub(crate) fn delete_all(tx: &Tx<'_>, group_id: &GroupId) -> Result<()> {
    let k = group_key(group_id)?;
    tx.db().run("DELETE FROM openmls_node_future_messages WHERE group_id = $1", &[Arg::Bytes(&k)]).map_err(|e| store_error(&e))?;
    tx.db().run("DELETE FROM openmls_node_group_settings WHERE group_id = $1", &[Arg::Bytes(&k)]).map_err(|e| store_error(&e))?;
    Ok(())
}

impl Group {
    /// Turns the future-epoch buffer on (with these limits) or off (`None`). Turning it off
    /// returns the messages it held, in arrival order, so none is lost.
    pub fn set_future_buffer(&self, limits: Option<FutureBufferLimits>) -> Result<Vec<Vec<u8>>> {
        if let Some(l) = limits {
            if l.max_messages == 0 || l.max_bytes == 0 {
                return Err(Error::invalid_argument("a future-epoch buffer needs room for at least one message and one byte"));
            }
        }
        self.tx(|tx| {
            let group_id = self.lock()?.group_id().clone();
            let settings = encode_value(&Settings { future_buffer: limits })?;
            let k = group_key(&group_id)?;
            tx.db()
                .run(
                    "INSERT INTO openmls_node_group_settings (group_id, settings) VALUES ($1, $2)
                     ON CONFLICT (group_id) DO UPDATE SET settings = excluded.settings",
                    &[Arg::Bytes(&k), Arg::Bytes(&settings)],
                )
                .map_err(|e| store_error(&e))?;
            if limits.is_some() {
                return Ok(Vec::new());
            }
            let held = kept(tx, &group_id)?;
            for (id, _) in &held {
                forget(tx, *id)?;
            }
            Ok(held.into_iter().map(|(_, k)| k.message).collect())
        })
    }

    /// The future-epoch buffer: its limits and what it holds.
    pub fn future_buffer(&self) -> Result<FutureBufferState> {
        let group_id = self.lock()?.group_id().clone();
        self.provider.atomically(|tx| {
            let held = kept(tx, &group_id)?;
            Ok(FutureBufferState {
                limits: limits(tx, &group_id)?,
                messages: held.len() as u32,
                bytes: held.iter().map(|(_, k)| k.message.len() as u64).sum(),
            })
        })
    }

    /// After a message was refused as `ERR_WRONG_EPOCH`: if it is for a later epoch and the
    /// buffer is on, keeps it (or finds the buffer full) and says so. `None`: not a case for the
    /// buffer, the refusal stands. Runs in `tx`, outside any savepoint of the refused message.
    pub(super) fn buffer_if_future(&self, tx: &Tx<'_>, bytes: &[u8]) -> Result<Option<Error>> {
        let Ok(message) = codec::decode_protocol_message(bytes) else { return Ok(None) };
        let (group_id, current) = {
            let group = self.lock()?;
            (group.group_id().clone(), group.epoch().as_u64())
        };
        let epoch = message.epoch().as_u64();
        if message.group_id() != &group_id || epoch <= current {
            return Ok(None);
        }
        let Some(limits) = limits(tx, &group_id)? else { return Ok(None) };
        let held = kept(tx, &group_id)?;
        let bytes_held: u64 = held.iter().map(|(_, k)| k.message.len() as u64).sum();
        if held.len() as u64 + 1 > u64::from(limits.max_messages) || bytes_held + bytes.len() as u64 > limits.max_bytes {
            return Ok(Some(Error::new(
                ErrorCode::BufferFull,
                format!(
                    "the message is for epoch {epoch} (the group is in epoch {current}) and the future-epoch buffer is full ({} message(s), {bytes_held} bytes): it was not kept",
                    held.len()
                ),
            )));
        }
        let value = encode_value(&Kept { epoch, message: bytes.to_vec() })?;
        let k = group_key(&group_id)?;
        tx.db()
            .run("INSERT INTO openmls_node_future_messages (group_id, message) VALUES ($1, $2)", &[Arg::Bytes(&k), Arg::Bytes(&value)])
            .map_err(|e| store_error(&e))?;
        Ok(Some(Error::new(
            ErrorCode::MessageBuffered,
            format!("the message is for epoch {epoch}, the group is in epoch {current}: it was kept, and the merge that enters epoch {epoch} returns it processed"),
        )))
    }

    /// After a merge, in its transaction: processes the kept messages of the epoch the group is
    /// now in, in arrival order, each all-or-nothing. Those of later epochs stay; those of an
    /// epoch the group passed (its commit never came here) are reported as `ERR_WRONG_EPOCH`.
    pub(super) fn replay_future(&self, tx: &Tx<'_>) -> Result<Vec<Result<Processed>>> {
        let (group_id, current) = {
            let group = self.lock()?;
            (group.group_id().clone(), group.epoch().as_u64())
        };
        let mut out = Vec::new();
        for (id, k) in kept(tx, &group_id)? {
            if k.epoch > current {
                continue;
            }
            forget(tx, id)?;
            if k.epoch < current {
                out.push(Err(Error::new(
                    ErrorCode::WrongEpoch,
                    format!(
                        "a message kept for epoch {} was dropped: the group went from epoch {} to {current} without it",
                        k.epoch,
                        k.epoch - 1
                    ),
                )));
                continue;
            }
            out.push(self.item_in(tx, || self.process_in_tx(tx, &k.message))?);
        }
        Ok(out)
    }
}
