//! The in-memory part of verifying a token: parse (length, prefix,
//! alphabet, CRC32 checksum) and SHA-256. Run: `cargo bench --bench token`.

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::domain::TokenFormat;
use std::hint::black_box;

fn token_checks(c: &mut Criterion) {
    let format = TokenFormat::default();
    let token = format.generate().expect("os rng");
    let raw = token.expose().to_owned();
    let mut bad = raw.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).expect("ascii");

    c.bench_function("parse valid token", |b| {
        b.iter(|| format.parse(black_box(&raw)))
    });
    c.bench_function("parse bad checksum", |b| {
        b.iter(|| format.parse(black_box(&bad)))
    });
    c.bench_function("parse + sha256", |b| {
        b.iter(|| format.parse(black_box(&raw)).map(|t| t.hash()))
    });
    c.bench_function("generate token", |b| b.iter(|| format.generate()));
}

criterion_group!(benches, token_checks);
criterion_main!(benches);
