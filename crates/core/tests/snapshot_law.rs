//! The snapshot law: reducing `view_k.to_snapshot()` and then frames
//! `k+1..n` gives exactly the view of reducing frames `1..n` — for every
//! session event type, unknown and invalid frames, stale duplicates, and
//! cuts that split a run of chunks being merged into one message.
//!
//! The snapshot goes through JSON text on the way, as it does on the wire.

use proptest::prelude::*;
use proptest::sample::Index;
use switchyard_core::testgen::{SESSION_OPS, frames_from_choices};
use switchyard_core::{Frame, SessionView, reduce};

/// Law cases per property; the closing note of issue 2 quotes these.
const CASES: u32 = 4096;

fn reduce_all(view: &mut SessionView, frames: &[Frame]) {
    for f in frames {
        reduce(view, f);
    }
}

fn check_law(frames: &[Frame], k: usize) -> Result<(), TestCaseError> {
    let mut full = SessionView::new();
    reduce_all(&mut full, frames);

    let mut prefix = SessionView::new();
    reduce_all(&mut prefix, &frames[..k]);
    let wire = prefix.to_snapshot().to_json();
    let snapshot = Frame::from_json(&wire).expect("snapshot frame parses");

    let mut seeded = SessionView::new();
    reduce(&mut seeded, &snapshot);
    prop_assert_eq!(
        &seeded,
        &prefix,
        "snapshot did not reproduce the prefix view"
    );
    reduce_all(&mut seeded, &frames[k..]);

    prop_assert_eq!(seeded.to_json(), full.to_json());
    prop_assert_eq!(seeded, full);
    Ok(())
}

/// Session ops plus the two stale-id ops (28: duplicate, 35: from the past),
/// which a daemon's own log never contains but a client's delivery can.
fn law_op() -> impl Strategy<Value = u8> {
    prop_oneof![
        10 => 0u8..SESSION_OPS,
        1 => Just(28u8),
        1 => Just(35u8),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_then_rest_equals_everything(
        choices in prop::collection::vec((law_op(), any::<u32>()), 0..160),
        cut in any::<Index>(),
    ) {
        let frames = frames_from_choices(&choices, 36);
        check_law(&frames, cut.index(frames.len() + 1))?;
    }

    /// Mostly message/thought chunks, so cuts land inside merges.
    #[test]
    fn snapshot_inside_chunk_merges(
        choices in prop::collection::vec((prop_oneof![1u8..=5, Just(6u8), Just(13u8), Just(14u8)], any::<u32>()), 1..80),
        cut in any::<Index>(),
    ) {
        let frames = frames_from_choices(&choices, 36);
        check_law(&frames, cut.index(frames.len() + 1))?;
    }
}
