//! Reducer throughput on a realistic 100k-frame session stream.
//!
//! Run: `cargo bench -p switchyard-core --bench reduce`
//! Targets (docs/benchmarks.md): typed frames ≥ 2M frames/s; JSON text →
//! parse + validate + reduce ≥ 300k frames/s.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchyard_core::sse::SseParser;
use switchyard_core::testgen::realistic_stream;
use switchyard_core::{Decoded, SessionView, TypedFrame, reduce_json, reduce_typed};

const FRAMES: usize = 100_000;

fn bench(c: &mut Criterion) {
    let frames = realistic_stream(FRAMES, 42);
    let typed: Vec<TypedFrame> = frames
        .iter()
        .map(|f| match TypedFrame::decode(f) {
            Decoded::Ok(t) => t,
            Decoded::Invalid { error, .. } => panic!("bench stream is invalid: {error}"),
        })
        .collect();
    let texts: Vec<String> = frames.iter().map(|f| f.to_json()).collect();
    let sse: String = texts
        .iter()
        .zip(&frames)
        .map(|(t, f)| {
            format!(
                "id: {}\nevent: {}\ndata: {}\n\n",
                f.id.unwrap_or(0),
                f.kind,
                t
            )
        })
        .collect();

    let mut g = c.benchmark_group("reduce_100k");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.sample_size(20);

    g.bench_function("typed_frames", |b| {
        b.iter_batched(
            SessionView::new,
            |mut view| {
                for tf in &typed {
                    reduce_typed(&mut view, tf);
                }
                black_box(view)
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("json_parse_validate_reduce", |b| {
        b.iter_batched(
            SessionView::new,
            |mut view| {
                for t in &texts {
                    reduce_json(&mut view, t);
                }
                black_box(view)
            },
            BatchSize::LargeInput,
        )
    });

    g.bench_function("sse_bytes_parse_validate_reduce", |b| {
        b.iter_batched(
            || (SessionView::new(), SseParser::new(), Vec::with_capacity(64)),
            |(mut view, mut parser, mut out)| {
                // 16 KiB chunks, as a fetch body delivers them.
                for chunk in sse.as_bytes().chunks(16 * 1024) {
                    out.clear();
                    parser.feed(chunk, &mut out).unwrap();
                    for ev in &out {
                        reduce_json(&mut view, &ev.data);
                    }
                }
                black_box(view)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
