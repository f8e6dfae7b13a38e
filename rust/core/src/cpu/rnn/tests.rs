//! The pre-packed recurrent product against the reference GEMM, and packed
//! (variable-length) layers against running each sequence on its own.

use super::recur::Packed;
use super::*;
use crate::cpu::gemm::reference::gemm_ref;

fn data(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect()
}

#[test]
fn recur_matches_reference() {
    // edge tiles in m and n, depth beyond one KC block, both B layouts
    for &(m, n, k) in &[(1, 1, 1), (5, 7, 3), (16, 256, 64), (13, 67, 1500), (64, 40, 33)] {
        let a = data(m * k, 1);
        let b = data(k * n, 2);
        for transposed in [false, true] {
            let bm = if transposed { MatRef { data: &b[..], offset: 0, rs: 1, cs: k } } else { MatRef { data: &b[..], offset: 0, rs: n, cs: 1 } };
            let p = Packed::new(bm, k, n, m);
            for acc in [false, true] {
                let c0 = data(m * n, 3);
                let mut want = c0.clone();
                gemm_ref(m, n, k, 1.0, MatRef { data: &a[..], offset: 0, rs: k, cs: 1 }, bm, if acc { 1.0 } else { 0.0 }, &mut want);
                let mut got = c0.clone();
                p.mul(m, &a, acc, &mut got, &mut Vec::new());
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-10, "m={m} n={n} k={k} acc={acc}: {g} vs {w}");
                }
            }
        }
    }
}

/// A packed batch (lengths 4, 2, 2, 1) gives each sequence what running it
/// alone gives: outputs, final states and every gradient.
#[test]
fn packed_lstm_matches_single_sequences() {
    let (i, h) = (3, 5);
    let lens = [4usize, 2, 2, 1];
    let bs: Vec<usize> = (0..4).map(|t| lens.iter().filter(|&&l| l > t).count()).collect();
    let b = lens.len();
    for reverse in [false, true] {
        let sq = Seq::new(bs.clone(), i, h, reverse);
        let rows = sq.rows();
        let x = data(rows * i, 4);
        let (h0, c0) = (data(b * h, 5), data(b * h, 6));
        let (wi, wh, bias) = (data(4 * h * i, 7), data(4 * h * h, 8), data(4 * h, 9));
        let f = lstm_forward(&sq, &x, &h0, &c0, &wi, &wh, &bias);
        let (dhs, dhn, dcn) = (data(rows * h, 10), data(b * h, 11), data(b * h, 12));
        let g = lstm_backward(&sq, &x, &h0, &c0, &wi, &wh, (&f.hs, &f.gates, &f.cs), &dhs, &dhn, &dcn, true);
        let gdx = g.dx.unwrap();
        let mut dwi = vec![0.0; wi.len()];
        for (r, &l) in lens.iter().enumerate() {
            // this sequence's rows in the packed layout
            let idx: Vec<usize> = (0..l).map(|t| sq.off[t] + r).collect();
            let one = Seq::uniform(l, 1, i, h, reverse);
            let xs: Vec<f64> = idx.iter().flat_map(|&q| x[q * i..(q + 1) * i].to_vec()).collect();
            let (h0r, c0r) = (&h0[r * h..(r + 1) * h], &c0[r * h..(r + 1) * h]);
            let fo = lstm_forward(&one, &xs, h0r, c0r, &wi, &wh, &bias);
            let dh1: Vec<f64> = idx.iter().flat_map(|&q| dhs[q * h..(q + 1) * h].to_vec()).collect();
            let go = lstm_backward(&one, &xs, h0r, c0r, &wi, &wh, (&fo.hs, &fo.gates, &fo.cs), &dh1, &dhn[r * h..(r + 1) * h], &dcn[r * h..(r + 1) * h], true);
            let close = |a: &[f64], b: &[f64], what: &str| {
                for (x, y) in a.iter().zip(b) {
                    assert!((x - y).abs() < 1e-12, "{what} seq {r} reverse {reverse}: {x} vs {y}");
                }
            };
            for (t, &q) in idx.iter().enumerate() {
                close(&f.hs[q * h..(q + 1) * h], &fo.hs[t * h..(t + 1) * h], "output");
                close(&gdx[q * i..(q + 1) * i], &go.dx.as_ref().unwrap()[t * i..(t + 1) * i], "dx");
            }
            close(&f.h_n[r * h..(r + 1) * h], &fo.h_n, "h_n");
            close(&f.c_n[r * h..(r + 1) * h], &fo.c_n, "c_n");
            close(&g.dh0[r * h..(r + 1) * h], &go.dh0, "dh0");
            close(&g.dc0[r * h..(r + 1) * h], &go.dc0, "dc0");
            for (a, v) in dwi.iter_mut().zip(&go.dw_ih) {
                *a += v;
            }
        }
        for (x, y) in g.dw_ih.iter().zip(&dwi) {
            assert!((x - y).abs() < 1e-12, "dW_ih reverse {reverse}");
        }
    }
}

/// The chunks partition the batch: every row in exactly one chunk, at most
/// `threads` chunks, none below MIN_ROWS rows when split, one chunk (with
/// all threads inside it) when the batch or the work is small.
#[test]
fn chunks_partition_the_batch() {
    for threads in 1..5 {
        for b in 1..100 {
            for work in [1, 1 << 12, 1 << 24] {
                let c = Chunks::with_threads(threads, b, work);
                assert!(c.n >= 1 && c.n <= threads, "{c:?}");
                assert_eq!(c.inner, if c.n == 1 { threads } else { 1 });
                let mut seen = vec![0; b];
                for k in 0..c.n {
                    let (r0, r1) = c.bounds(k);
                    assert!(r1 - r0 <= c.max_rows(), "{c:?}");
                    assert!(c.n == 1 || r1 - r0 >= MIN_ROWS, "{c:?}");
                    seen[r0..r1].iter_mut().for_each(|s| *s += 1);
                }
                assert!(seen.iter().all(|&s| s == 1), "{c:?}");
                if b < 2 * MIN_ROWS || work == 1 {
                    assert_eq!(c.n, 1, "{c:?}");
                }
            }
        }
    }
}

/// `Fresh` hands out zeroed rows and refuses to finish with rows unwritten.
#[test]
fn fresh_buffer_rows() {
    let f = Fresh::<f64>::new(4, 3, 6);
    // SAFETY: disjoint rows, each once.
    let (a, b) = unsafe { (f.rows(0, 1), f.rows(1, 4)) };
    assert!(a.iter().chain(b.iter()).all(|&v| v == 0.0));
    a[2] = 1.0;
    b[8] = 2.0;
    let v = f.finish();
    assert_eq!((v.len(), v.capacity() >= 18, v[2], v[11]), (12, true, 1.0, 2.0));
    let g = Fresh::<f32>::new(2, 2, 0);
    // SAFETY: one row, once.
    unsafe { g.rows(0, 1) };
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| g.finish())).is_err());
}
