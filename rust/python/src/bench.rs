//! Probes for `python -m dlcore.bench`: the FMA peak per instruction set,
//! the GEMM configuration in use, and GEMM timed inside Rust on a chosen
//! instruction set (so one process can compare the AVX-512, AVX2 and scalar
//! paths, which DLCORE_SIMD only picks once per process).

use dlcore_core::cpu::gemm::kernel::{supported, GemmElem};
use dlcore_core::cpu::gemm::{cache, gemm_with, Config, MatRef};
use dlcore_core::cpu::simd::{level, Simd};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::time::Instant;

/// "avx512" | "avx2" | "scalar" | None (the path in use), checked against the CPU.
fn parse_simd(simd: Option<&str>) -> PyResult<Simd> {
    let s = match simd {
        None => return Ok(level()),
        Some("avx512") => Simd::Avx512,
        Some("avx2") => Simd::Avx2,
        Some("scalar") => Simd::Scalar,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "unknown SIMD path {other:?}; expected 'avx512', 'avx2' or 'scalar'"
            )))
        }
    };
    if !supported(s) {
        return Err(PyValueError::new_err(format!(
            "this CPU does not support the {} path",
            s.name()
        )));
    }
    Ok(s)
}

/// (GFLOP/s on one thread, GFLOP/s on all pool threads, threads) of f32 FMAs.
#[pyfunction]
#[pyo3(signature = (simd=None, seconds=0.05, reps=5))]
fn fma_peak(
    py: Python<'_>,
    simd: Option<&str>,
    seconds: f64,
    reps: usize,
) -> PyResult<(f64, f64, usize)> {
    let s = parse_simd(simd)?;
    if !(seconds > 0.0 && seconds <= 10.0) {
        return Err(PyValueError::new_err(format!(
            "fma_peak: seconds must be in (0, 10], got {seconds}"
        )));
    }
    Ok(py.detach(move || dlcore_core::cpu::peak::fma_peak(s, seconds, reps.clamp(1, 100))))
}

/// The kernel and block sizes GEMM uses for `dtype` on `simd`, and the caches they came from.
#[pyfunction]
#[pyo3(signature = (simd=None, dtype="float32"))]
fn gemm_config<'py>(
    py: Python<'py>,
    simd: Option<&str>,
    dtype: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let s = parse_simd(simd)?;
    let (name, mr, nr, blk) = match dtype {
        "float32" => {
            let c = Config::<f32>::new(s, 1);
            (c.kernel.name, c.kernel.mr, c.kernel.nr, c.blocking)
        }
        "float64" => {
            let c = Config::<f64>::new(s, 1);
            (c.kernel.name, c.kernel.mr, c.kernel.nr, c.blocking)
        }
        _ => {
            return Err(PyValueError::new_err(format!(
                "gemm_config: dtype must be 'float32' or 'float64', got {dtype:?}"
            )))
        }
    };
    let c = cache::sizes();
    let d = PyDict::new(py);
    d.set_item("simd", s.name())?;
    d.set_item("kernel", name)?;
    d.set_item("mr", mr)?;
    d.set_item("nr", nr)?;
    d.set_item("kc", blk.kc)?;
    d.set_item("nc", blk.nc)?;
    d.set_item("workspace_elems", blk.workspace)?;
    d.set_item("l1d", c.l1d)?;
    d.set_item("l2", c.l2)?;
    d.set_item("l3", c.l3)?;
    Ok(d)
}

fn time_gemm<T: GemmElem>(simd: Simd, m: usize, n: usize, k: usize, reps: usize) -> f64 {
    let a: Vec<T> = (0..m * k)
        .map(|i| T::from_f64(((i * 7) % 13) as f64 / 13.0 - 0.5))
        .collect();
    let b: Vec<T> = (0..k * n)
        .map(|i| T::from_f64(((i * 5) % 11) as f64 / 11.0 - 0.5))
        .collect();
    let mut c = vec![T::zero(); m * n];
    let cfg = Config::<T>::new(simd, dlcore_core::cpu::num_threads());
    let am = MatRef {
        data: &a,
        offset: 0,
        rs: k,
        cs: 1,
    };
    let bm = MatRef {
        data: &b,
        offset: 0,
        rs: n,
        cs: 1,
    };
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        gemm_with(&cfg, m, n, k, T::one(), am, bm, T::zero(), &mut c);
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// Best-of-`reps` seconds of one row-major m×k · k×n GEMM on `simd`, timed
/// in Rust on dlcore's threads (no Python or tensor overhead).
#[pyfunction]
#[pyo3(signature = (m, n, k, simd=None, dtype="float32", reps=5))]
fn gemm_seconds(
    py: Python<'_>,
    m: usize,
    n: usize,
    k: usize,
    simd: Option<&str>,
    dtype: &str,
    reps: usize,
) -> PyResult<f64> {
    let s = parse_simd(simd)?;
    if m.checked_mul(k)
        .and_then(|x| x.checked_add(k.checked_mul(n)?))
        .and_then(|x| x.checked_add(m.checked_mul(n)?))
        .is_none_or(|x| x > 1 << 30)
    {
        return Err(PyValueError::new_err(format!(
            "gemm_seconds: {m}x{k}x{n} needs too much memory"
        )));
    }
    let reps = reps.clamp(1, 1000);
    match dtype {
        "float32" => Ok(py.detach(move || time_gemm::<f32>(s, m, n, k, reps))),
        "float64" => Ok(py.detach(move || time_gemm::<f64>(s, m, n, k, reps))),
        _ => Err(PyValueError::new_err(format!(
            "gemm_seconds: dtype must be 'float32' or 'float64', got {dtype:?}"
        ))),
    }
}

/// Whether GEMM runs on its own spinning thread team (True) or on rayon;
/// with `enabled` given, switches first (benchmarks compare both).
#[pyfunction]
#[pyo3(signature = (enabled=None))]
fn gemm_team(enabled: Option<bool>) -> bool {
    if let Some(on) = enabled {
        dlcore_core::cpu::gemm::team::set_enabled(on);
    }
    dlcore_core::cpu::gemm::team::enabled()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gemm_team, m)?)?;
    m.add_function(wrap_pyfunction!(fma_peak, m)?)?;
    m.add_function(wrap_pyfunction!(gemm_config, m)?)?;
    m.add_function(wrap_pyfunction!(gemm_seconds, m)?)?;
    Ok(())
}
