//! Every compiled kernel of every instruction set this CPU has, against the
//! scalar reference: odd and prime shapes, k = 1, vectors, empty dims,
//! row-/column-major and strided operands, alpha/beta combinations, one and
//! several threads, and tiny block sizes that force every superblock split.

use super::kernel::{self, GemmElem, Kernel};
use super::macrokernel::task_grid;
use super::*;
use crate::cpu::simd::Simd;

/// The instruction sets this CPU can run (the forced-path tests need them all).
fn paths() -> Vec<Simd> {
    [Simd::Scalar, Simd::Avx2, Simd::Avx512]
        .into_iter()
        .filter(|&s| kernel::supported(s))
        .collect()
}

/// Deterministic values in [-2, 2): small enough that f32 sums stay accurate.
fn fill<T: Float>(len: usize, seed: u64) -> Vec<T> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            T::from_f64(((s >> 40) as f64 / (1u64 << 24) as f64) * 4.0 - 2.0)
        })
        .collect()
}

#[derive(Clone, Copy, Debug)]
enum Layout {
    Row,
    Col,
    /// Every other element of a row-major buffer with a leading offset.
    Strided,
    /// Row 0 repeated (row stride 0), as a broadcast view.
    Bcast,
}

/// Storage and a view of a rows×cols matrix in `layout`.
fn matrix<T: Float>(
    rows: usize,
    cols: usize,
    layout: Layout,
    seed: u64,
) -> (Vec<T>, usize, usize, usize) {
    match layout {
        Layout::Row => (fill(rows * cols, seed), 0, cols, 1),
        Layout::Col => (fill(rows * cols, seed), 0, 1, rows),
        Layout::Strided => (fill(3 + 2 * rows * cols, seed), 3, 2 * cols, 2),
        Layout::Bcast => (fill(cols.max(1), seed), 0, 0, 1),
    }
}

fn tol<T: Float>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        2e-6
    } else {
        1e-13
    }
}

#[allow(clippy::too_many_arguments)]
fn check<T: GemmElem>(
    cfg: &Config<T>,
    m: usize,
    n: usize,
    k: usize,
    la: Layout,
    lb: Layout,
    alpha: f64,
    beta: f64,
) {
    let (ad, ao, ars, acs) = matrix::<T>(m, k, la, 1 + (m * 31 + k) as u64);
    let (bd, bo, brs, bcs) = matrix::<T>(k, n, lb, 2 + (n * 17 + k) as u64);
    let a = MatRef {
        data: &ad,
        offset: ao,
        rs: ars,
        cs: acs,
    };
    let b = MatRef {
        data: &bd,
        offset: bo,
        rs: brs,
        cs: bcs,
    };
    let mut c: Vec<T> = fill(m * n, 3);
    if beta == 0.0 {
        c.iter_mut().for_each(|v| *v = T::from_f64(f64::NAN)); // must not leak through
    }
    let mut want = c.clone();
    let (al, be) = (T::from_f64(alpha), T::from_f64(beta));
    reference::gemm_ref(m, n, k, al, a, b, be, &mut want);
    gemm_with(cfg, m, n, k, al, a, b, be, &mut c);
    // error bound: rounding of a k-term dot product of values below 2, plus beta·C
    let bound = tol::<T>() * (4.0 * k as f64 * alpha.abs() + 2.0 * beta.abs() + 1.0);
    for i in 0..m {
        for j in 0..n {
            let (x, y) = (c[i * n + j].to_f64(), want[i * n + j].to_f64());
            assert!(
                (x - y).abs() <= bound,
                "{} {m}x{n}x{k} {la:?}/{lb:?} alpha={alpha} beta={beta} threads={} at ({i},{j}): {x} vs {y}",
                cfg.kernel.name,
                cfg.threads
            );
        }
    }
}

const SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 1, 7),
    (1, 37, 19),
    (29, 1, 23),
    (7, 5, 1),
    (2, 3, 4),
    (12, 32, 16),
    (13, 33, 17),
    (31, 47, 5),
    (48, 48, 48),
    (61, 67, 71),
    (97, 33, 130),
    (6, 300, 64),
    (127, 129, 3),
    (200, 19, 257),
    (1, 700, 300),
    (600, 1, 300),
];

fn all_kernels<T: GemmElem>() {
    for simd in paths() {
        for kern in T::candidates(simd) {
            // (threads, gemv, B in place, B packed in the compute tasks)
            for (threads, gemv, b_in_place, b_in_task) in [
                (1, true, true, true),
                (3, true, true, true),
                (1, false, false, false),
                (2, true, false, true),
            ] {
                let cfg = Config {
                    gemv,
                    b_in_place,
                    b_in_task,
                    ..Config::with_kernel(kern, threads)
                };
                for &(m, n, k) in SHAPES {
                    check(&cfg, m, n, k, Layout::Row, Layout::Row, 1.0, 0.0);
                }
                // every layout pair on two shapes with edges in both dims
                for la in [Layout::Row, Layout::Col, Layout::Strided, Layout::Bcast] {
                    for lb in [Layout::Row, Layout::Col, Layout::Strided, Layout::Bcast] {
                        check(&cfg, 23, 41, 29, la, lb, 1.0, 0.0);
                        check(&cfg, 64, 96, 50, la, lb, -0.5, 1.0);
                    }
                }
                for (alpha, beta) in [
                    (0.5, 2.0),
                    (-1.0, 1.0),
                    (2.0, -0.25),
                    (0.0, 3.0),
                    (0.0, 0.0),
                    (1.5, 0.0),
                ] {
                    check(&cfg, 19, 53, 37, Layout::Col, Layout::Row, alpha, beta);
                }
            }
        }
    }
}

#[test]
fn every_f32_kernel_matches_reference() {
    all_kernels::<f32>();
}

#[test]
fn every_f64_kernel_matches_reference() {
    all_kernels::<f64>();
}

/// Tiny blocks and workspace: many KC blocks, NC blocks and superblocks
/// split in every dimension, with beta applied exactly once per element.
#[test]
fn superblock_splits_match_reference() {
    for simd in paths() {
        let kern: Kernel<f32> = f32::kernel(simd);
        for (kc, ncs, ws) in [(16, 1, 1 << 30), (16, 2, 4096), (32, 3, 3000), (64, 1, 900)] {
            for threads in [1, 4] {
                let cfg = Config {
                    kernel: kern,
                    blocking: Blocking {
                        kc,
                        nc: ncs * kern.nr,
                        workspace: ws,
                    },
                    threads,
                    gemv: true,
                    b_in_place: true,
                    b_in_task: threads > 1,
                };
                for &(m, n, k) in &[(70, 90, 100), (13, 200, 33), (150, 7, 64)] {
                    check(&cfg, m, n, k, Layout::Row, Layout::Col, 1.0, 0.0);
                    check(&cfg, m, n, k, Layout::Strided, Layout::Row, 0.5, -2.0);
                }
            }
        }
    }
}

/// Empty dims: nothing read, C scaled by beta (k = 0) or untouched (m or n = 0).
#[test]
fn empty_dims() {
    let cfg = Config::<f32>::new(crate::cpu::simd::level(), 2);
    for &(m, n, k) in &[(0, 3, 2), (3, 0, 2), (0, 0, 0), (3, 4, 0)] {
        check(&cfg, m, n, k, Layout::Row, Layout::Row, 1.0, 0.0);
        check(&cfg, m, n, k, Layout::Row, Layout::Row, 1.0, 2.0);
    }
}

#[test]
fn large_shape_on_several_threads() {
    for simd in paths() {
        check(
            &Config::<f32>::new(simd, 4),
            301,
            283,
            293,
            Layout::Row,
            Layout::Row,
            1.0,
            1.0,
        );
        check(
            &Config::<f64>::new(simd, 2),
            257,
            263,
            269,
            Layout::Col,
            Layout::Strided,
            1.0,
            0.0,
        );
    }
}

/// The public entry point (type dispatch, thread count from the pool).
#[test]
fn public_gemm_dispatches_by_type() {
    let (m, n, k) = (33, 17, 300);
    let a: Vec<f32> = fill(m * k, 5);
    let b: Vec<f32> = fill(k * n, 6);
    let am = MatRef {
        data: &a,
        offset: 0,
        rs: k,
        cs: 1,
    };
    let bm = MatRef {
        data: &b,
        offset: 0,
        rs: 1,
        cs: k,
    };
    let mut c1 = vec![1.0f32; m * n];
    let mut c2 = c1.clone();
    gemm(m, n, k, 0.5, am, bm, 2.0, &mut c1);
    reference::gemm_ref(m, n, k, 0.5, am, bm, 2.0, &mut c2);
    for (x, y) in c1.iter().zip(&c2) {
        assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn views_are_bounds_checked() {
    let d = [0.0f32; 6];
    assert!(MatRef {
        data: &d,
        offset: 0,
        rs: 3,
        cs: 1
    }
    .fits(2, 3));
    assert!(!MatRef {
        data: &d,
        offset: 1,
        rs: 3,
        cs: 1
    }
    .fits(2, 3));
    assert!(MatRef {
        data: &d,
        offset: 5,
        rs: 0,
        cs: 0
    }
    .fits(100, 100));
    assert!(!MatRef {
        data: &d,
        offset: 0,
        rs: usize::MAX,
        cs: 1
    }
    .fits(2, 1));
    assert!(MatRef {
        data: &d[..0],
        offset: 0,
        rs: 1,
        cs: 1
    }
    .fits(0, 5));
}

#[test]
fn task_grid_covers_threads() {
    assert_eq!(task_grid(100, 100, 12, 32, 1), (1, 1));
    for threads in [2, 3, 8, 64] {
        for &(ms, ns) in &[(1, 1), (6, 8), (342, 8), (3, 128), (86, 32)] {
            let (tm, tn) = task_grid(ms, ns, 12, 32, threads);
            assert!(
                tm >= 1 && tn >= 1 && tm <= ms && tn <= ns,
                "{ms}x{ns} on {threads}: {tm}x{tn}"
            );
            assert!(
                tm * tn >= threads.min(ms * ns),
                "{ms}x{ns} on {threads}: {tm}x{tn}"
            );
        }
    }
}

#[test]
fn blocking_is_sane() {
    for c in [
        cache::FALLBACK,
        cache::sizes(),
        cache::CacheSizes {
            l1d: 1024,
            l2: 2048,
            l3: 4096,
        },
    ] {
        for (mr, nr, size) in [(12, 32, 4), (6, 16, 4), (12, 16, 8), (4, 8, 8)] {
            let b = Blocking::from_caches(c, mr, nr, size);
            assert!(
                b.kc >= 64 && b.kc % 16 == 0 && b.nc >= nr && b.nc % nr == 0 && b.workspace > 0,
                "{b:?}"
            );
        }
    }
}

#[test]
fn task_grid_examples() {
    // printed for tuning: cargo test --release grid -- --nocapture
    for threads in [2, 4, 16, 64] {
        for &(m, n) in &[
            (64usize, 256usize),
            (64, 784),
            (256, 1024),
            (512, 512),
            (1024, 1024),
            (4096, 256),
            (4096, 4096),
        ] {
            let (ms, ns) = (m.div_ceil(12), n.div_ceil(32));
            let (tm, tn) = task_grid(ms, ns, 12, 32, threads);
            println!(
                "{threads:3} threads {m:5}x{n:<5}: {tm}x{tn} tasks of {}x{} tiles",
                ms.div_ceil(tm),
                ns.div_ceil(tn)
            );
        }
    }
}

#[test]
fn short_m_picks_a_kernel_that_wastes_less() {
    for simd in paths() {
        let def = f32::kernel(simd);
        for m in [1, 7, 8, 12, 13, 24, 64, 100, 190, 256, 600, 4096] {
            let k = Config::<f32>::for_rows(simd, 2, m).kernel;
            assert_eq!(k.nr, def.nr, "{simd:?} m={m}");
            let used = |mr: usize| m as f64 / m.next_multiple_of(mr) as f64;
            // never a worse fit than the default, and the default for tall C
            assert!(used(k.mr) >= used(def.mr), "{simd:?} m={m}: {}", k.name);
            if (m > B_IN_PLACE_MAX_M && m >= 16 * def.mr) || m % def.mr == 0 {
                assert_eq!(k.name, def.name, "{simd:?} m={m}");
            }
        }
        if simd == Simd::Avx512 {
            assert_eq!(Config::<f32>::for_rows(simd, 2, 64).kernel.mr, 8);
            // 256 output features (a weight gradient): 12 would pad to 264
            assert_eq!(Config::<f32>::for_rows(simd, 2, 256).kernel.mr, 8);
        }
    }
}

/// `arows::gemm_a_rows_with` (A's rows read in place, B packed, the result
/// transposed with a bias) on every kernel against the reference: partial
/// row blocks, columns past NR, strided and transposed B, 1 and 3 threads.
#[test]
fn a_rows_matches_reference() {
    for simd in paths() {
        for kern in f32::candidates(simd) {
            for &(m, n, k) in &[(1, 1, 1), (7, 5, 64), (8, 32, 100), (13, 33, 3), (256, 64, 784), (257, 70, 65), (30, 1, 200)] {
                for threads in [1, 3] {
                    for lb in [Layout::Row, Layout::Col, Layout::Strided] {
                        let a: Vec<f32> = fill(m * k, 5);
                        let bias: Vec<f32> = fill(m, 7);
                        let (bd, boff, brs, bcs) = matrix::<f32>(k, n, lb, 6);
                        let b = MatRef { data: &bd, offset: boff, rs: brs, cs: bcs };
                        let am = MatRef { data: &a, offset: 0, rs: k, cs: 1 };
                        let mut want = vec![0.0f32; m * n];
                        reference::gemm_ref(m, n, k, 1.0, am, b, 0.0, &mut want);
                        for with_bias in [false, true] {
                            let y = arows::gemm_a_rows_with(kern, threads, m, n, k, &a, b, with_bias.then_some(&bias[..]));
                            assert_eq!(y.len(), n * m);
                            for i in 0..m {
                                for j in 0..n {
                                    let got = y[j * m + i] as f64;
                                    let w = want[i * n + j] as f64 + if with_bias { bias[i] as f64 } else { 0.0 };
                                    assert!((got - w).abs() <= tol::<f32>() * (k as f64 + 1.0) * 4.0, "{} {m}x{n}x{k} t{threads} {lb:?} at ({i},{j}): {got} vs {w}", kern.name);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
