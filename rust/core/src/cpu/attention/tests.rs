use super::*;

/// Materialised reference: full score rows, softmax, weighted sum.
fn reference(q: &[f64], k: &[f64], v: &[f64], sh: AttnShape) -> Vec<f64> {
    let mut out = vec![0.0; sh.bh * sh.l * sh.ev];
    for b in 0..sh.bh {
        for i in 0..sh.l {
            let mut s: Vec<f64> = (0..sh.s)
                .map(|j| {
                    let d: f64 = (0..sh.e)
                        .map(|t| q[(b * sh.l + i) * sh.e + t] * k[(b * sh.s + j) * sh.e + t])
                        .sum();
                    if sh.causal && j > i {
                        f64::NEG_INFINITY
                    } else {
                        d * sh.scale
                    }
                })
                .collect();
            let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            s.iter_mut().for_each(|x| *x = (*x - mx).exp());
            let z: f64 = s.iter().sum();
            for j in 0..sh.s {
                for t in 0..sh.ev {
                    out[(b * sh.l + i) * sh.ev + t] += s[j] / z * v[(b * sh.s + j) * sh.ev + t];
                }
            }
        }
    }
    out
}

fn gen(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|i| (((i + seed) * 7919 % 101) as f64) / 50.0 - 1.0)
        .collect()
}

fn shape(bh: usize, l: usize, s: usize, e: usize, ev: usize, causal: bool) -> AttnShape {
    AttnShape {
        bh,
        l,
        s,
        e,
        ev,
        scale: 0.4,
        causal,
    }
}

#[test]
fn exp_fast_is_accurate() {
    for i in -1740..1760 {
        let x = i as f32 / 20.0;
        let (a, b) = (x.exp_fast(), x.exp());
        assert!((a - b).abs() <= 3e-7 * b + 1e-37, "{x}: {a} vs {b}");
    }
    assert!(f32::NEG_INFINITY.exp_fast() < 1e-37);
}

#[test]
fn exp2_fast_is_accurate() {
    for i in -2520..2520 {
        let x = i as f32 / 20.0;
        let (a, b) = (x.exp2_fast(), (x as f64).exp2());
        assert!(
            (a as f64 - b).abs() <= 2.5e-7 * b + 1e-37,
            "{x}: {a} vs {b}"
        );
    }
    assert!(f32::NEG_INFINITY.exp2_fast() < 1e-37);
    assert!(f32::NAN.exp2_fast().is_nan());
    assert_eq!(3.0f64.exp2_fast(), 8.0);
}

#[test]
fn forward_matches_reference() {
    for &(l, s, causal) in &[
        (1usize, 1usize, false),
        (37, 150, false),
        (70, 70, true),
        (5, 130, true),
        (200, 97, true),
    ] {
        for bh in [1, 5] {
            let sh = shape(bh, l, s, 5, 3, causal);
            let (q, k, v) = (gen(bh * l * 5, 1), gen(bh * s * 5, 2), gen(bh * s * 3, 3));
            let (o, _) = flash_forward(&q, &k, &v, None, sh);
            let r = reference(&q, &k, &v, sh);
            let (ob, _) = blis::flash_forward(&q, &k, &v, None, sh);
            assert!(
                o.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-10),
                "{sh:?}"
            );
            assert!(
                ob.iter().zip(&r).all(|(a, b)| (a - b).abs() < 1e-10),
                "{sh:?}"
            );
        }
    }
}

fn close<T: AttnFloat>(a: &[T], b: &[T], tol: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x.to_f64() - y.to_f64()).abs() <= tol * (1.0 + y.to_f64().abs()))
}

/// Packed kernels against the BLIS-per-tile reference, forward and
/// backward, with and without masks, one head (split over blocks) and
/// many heads (one task per head).
fn packed_matches_blis<T: AttnFloat + GemmElem>(tol: f64) {
    let cases = [
        // (bh, l, s, e, ev, causal)
        (1usize, 1usize, 1usize, 1usize, 1usize, false),
        (1, 193, 200, 64, 64, true),
        (6, 100, 37, 17, 33, false),
        (6, 37, 100, 17, 9, true),
        (2, 300, 300, 40, 24, true),
        (7, 96, 192, 64, 64, false),
    ];
    for &(bh, l, s, e, ev, causal) in &cases {
        for mask_kind in 0..3 {
            let sh = shape(bh, l, s, e, ev, causal);
            let cv = |x: Vec<f64>| x.into_iter().map(T::from_f64).collect::<Vec<T>>();
            let (q, k, v) = (
                cv(gen(bh * l * e, 1)),
                cv(gen(bh * s * e, 2)),
                cv(gen(bh * s * ev, 3)),
            );
            let g = cv(gen(bh * l * ev, 4));
            let heads = if mask_kind == 2 { bh } else { 1 };
            // −∞ on a diagonal band (never a whole row) plus a finite bias
            let md: Vec<T> = (0..heads * l * s)
                .map(|n| {
                    let (i, j) = ((n / s) % l, n % s);
                    if (i + 2 * j) % 7 == 3 && j != 0 {
                        T::NEG_INF
                    } else {
                        T::from_f64(((n * 31) % 13) as f64 / 13.0 - 0.5)
                    }
                })
                .collect();
            let mask = (mask_kind > 0).then_some(Mask {
                data: &md[..],
                per_head: mask_kind == 2 && bh > 1,
            });
            let (o, lse) = flash_forward(&q, &k, &v, mask, sh);
            let (or, lr) = blis::flash_forward(&q, &k, &v, mask, sh);
            assert!(
                close(&o, &or, tol) && close(&lse, &lr, tol),
                "forward {sh:?} mask {mask_kind}"
            );
            let (dq, dk, dv) = flash_backward(&q, &k, &v, mask, sh, &o, &lse, &g);
            let (rq, rk, rv) = blis::flash_backward(&q, &k, &v, mask, sh, &or, &lr, &g);
            assert!(close(&dq, &rq, tol), "dq {sh:?} mask {mask_kind}");
            assert!(close(&dk, &rk, tol), "dk {sh:?} mask {mask_kind}");
            assert!(close(&dv, &rv, tol), "dv {sh:?} mask {mask_kind}");
        }
    }
}

#[test]
fn packed_matches_blis_f64() {
    packed_matches_blis::<f64>(1e-11);
}

#[test]
fn packed_matches_blis_f32() {
    packed_matches_blis::<f32>(2e-4);
}
