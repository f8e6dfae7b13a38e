//! Creation ops: ranges, identity, random tensors and random in-place fills.

use super::inplace::write_into;
use crate::error::{Error, Result};
use crate::rng::with_rng;
use crate::tensor::{numel, DType, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

fn build(values: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    crate::with_dtype!(dtype, T => {
        use crate::tensor::Element;
        Tensor::from_vec_unchecked(values.into_iter().map(T::from_f64).collect::<Vec<T>>(), shape)
    })
}

pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
    if step == 0.0 {
        return Err(Error::runtime("arange: step must be nonzero"));
    }
    if !(start.is_finite() && end.is_finite()) {
        return Err(Error::runtime(format!("arange: unsupported range: {start} -> {end}")));
    }
    if (end - start) / step < 0.0 {
        return Err(Error::runtime(format!(
            "arange: upper bound and larger bound inconsistent with step sign (start={start}, end={end}, step={step})"
        )));
    }
    let n = ((end - start) / step).ceil() as usize;
    Ok(build((0..n).map(|i| start + i as f64 * step).collect(), &[n], dtype))
}

pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Tensor {
    let vals = match steps {
        0 => vec![],
        1 => vec![start],
        _ => {
            let step = (end - start) / (steps - 1) as f64;
            // fill from both ends, as torch does, so the last value is exact
            (0..steps)
                .map(|i| if i < steps / 2 { start + step * i as f64 } else { end - step * (steps - 1 - i) as f64 })
                .collect()
        }
    };
    build(vals, &[steps], dtype)
}

pub fn eye(n: usize, m: usize, dtype: DType) -> Tensor {
    let mut v = vec![0.0; n * m];
    for i in 0..n.min(m) {
        v[i * m + i] = 1.0;
    }
    build(v, &[n, m], dtype)
}

fn float_only(dtype: DType, op: &str) -> Result<()> {
    if !dtype.is_float() {
        return Err(Error::type_(format!("{op}: expected a floating point dtype, got {}", dtype.name())));
    }
    Ok(())
}

/// Uniform on [0, 1).
pub fn rand(shape: &[usize], dtype: DType) -> Result<Tensor> {
    float_only(dtype, "rand")?;
    let n = numel(shape);
    Ok(build(with_rng(|r| (0..n).map(|_| r.random::<f64>()).collect()), shape, dtype))
}

pub fn randn(shape: &[usize], dtype: DType) -> Result<Tensor> {
    float_only(dtype, "randn")?;
    let n = numel(shape);
    Ok(build(with_rng(|r| (0..n).map(|_| StandardNormal.sample(r)).collect()), shape, dtype))
}

/// Integers uniform on [low, high).
pub fn randint(low: i64, high: i64, shape: &[usize], dtype: DType) -> Result<Tensor> {
    if high <= low {
        return Err(Error::runtime(format!(
            "randint: random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )));
    }
    let n = numel(shape);
    let v: Vec<i64> = with_rng(|r| (0..n).map(|_| r.random_range(low..high)).collect());
    let t = Tensor::from_vec_unchecked(v, shape);
    super::unary::to_dtype(&t, dtype)
}

/// In-place uniform fill on [a, b) (used by nn.init).
pub fn uniform_(t: &Tensor, a: f64, b: f64) -> Result<()> {
    float_only(t.dtype, "uniform_")?;
    if a > b {
        return Err(Error::runtime(format!("uniform_ expects to return a [from, to) range, but found from={a} > to={b}")));
    }
    let u = rand(&t.shape, DType::F64)?;
    let v: Vec<f64> = u.to_vec::<f64>().into_iter().map(|x| a + (b - a) * x).collect();
    write_into(t, &Tensor::from_vec_unchecked(v, &t.shape))
}

pub fn normal_(t: &Tensor, mean: f64, std: f64) -> Result<()> {
    float_only(t.dtype, "normal_")?;
    if std < 0.0 {
        return Err(Error::runtime(format!("normal_ expects std >= 0.0, but found std {std}")));
    }
    let z = randn(&t.shape, DType::F64)?;
    let v: Vec<f64> = z.to_vec::<f64>().into_iter().map(|x| mean + std * x).collect();
    write_into(t, &Tensor::from_vec_unchecked(v, &t.shape))
}

/// A random permutation of 0..n (Fisher–Yates on the global generator).
pub fn randperm(n: usize, dtype: DType) -> Result<Tensor> {
    let mut v: Vec<i64> = (0..n as i64).collect();
    with_rng(|r| {
        for i in (1..n).rev() {
            let j = r.random_range(0..=i);
            v.swap(i, j);
        }
    });
    super::unary::to_dtype(&Tensor::from_vec_unchecked(v, &[n]), dtype)
}
