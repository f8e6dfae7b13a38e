//! Optimizer steps, gradient clipping and the memory-bandwidth probe.
//!
//! `optim_step(kind, params, grads, states, group)` reads the hyper-parameters
//! straight from the torch-style param-group dict and the per-parameter state
//! dicts (`optimizer.state[p]`), runs one Rust call for the whole group with
//! the GIL released, and writes the new state back into those dicts.

use crate::errors::IntoPy;
use crate::functions::tensors;
use crate::tensor::PyTensor;
use dlcore_core::cpu::optim::adagrad::{Adagrad, RmsProp};
use dlcore_core::cpu::optim::adam::{Adam, Adamax, Moments, NAdam, RAdam};
use dlcore_core::cpu::optim::adamp::AdamP;
use dlcore_core::cpu::optim::paper::{AdaBelief, AdaBound};
use dlcore_core::cpu::optim::sgd::{Lion, Sgd};
use dlcore_core::ops::optim::{Config, ParamState};
use dlcore_core::{ops, Tensor};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// A number from a Python float/int/bool or anything with `__float__`
/// (0-d tensors, numpy scalars).
fn number(o: &Bound<'_, PyAny>) -> PyResult<f64> {
    match o.extract::<f64>() {
        Ok(v) => Ok(v),
        Err(_) => o.call_method0("__float__")?.extract(),
    }
}

/// Typed access to a param-group dict, with errors naming the optimizer.
struct Group<'a, 'py> {
    d: &'a Bound<'py, PyDict>,
    op: &'a str,
}

impl Group<'_, '_> {
    fn get(&self, key: &str) -> PyResult<Bound<'_, PyAny>> {
        self.d.get_item(key)?.ok_or_else(|| {
            PyValueError::new_err(format!("{}: the parameter group has no '{key}'", self.op))
        })
    }
    fn f(&self, key: &str) -> PyResult<f64> {
        number(&self.get(key)?)
            .map_err(|_| PyValueError::new_err(format!("{}: '{key}' must be a number", self.op)))
    }
    fn f_or(&self, key: &str, default: f64) -> PyResult<f64> {
        match self.d.get_item(key)? {
            Some(v) if !v.is_none() => number(&v).map_err(|_| {
                PyValueError::new_err(format!("{}: '{key}' must be a number", self.op))
            }),
            _ => Ok(default),
        }
    }
    fn b(&self, key: &str) -> PyResult<bool> {
        match self.d.get_item(key)? {
            Some(v) => v.is_truthy(),
            None => Ok(false),
        }
    }
    fn betas(&self) -> PyResult<(f64, f64)> {
        let b = self.get("betas")?;
        let v: Vec<Bound<'_, PyAny>> = b.try_iter()?.collect::<PyResult<_>>()?;
        match v.as_slice() {
            [a, b] => Ok((number(a)?, number(b)?)),
            _ => Err(PyValueError::new_err(format!(
                "{}: betas must be a pair of numbers",
                self.op
            ))),
        }
    }
    fn moments(&self, decoupled: bool) -> PyResult<Moments> {
        let (beta1, beta2) = self.betas()?;
        Ok(Moments {
            lr: self.f("lr")?,
            beta1,
            beta2,
            eps: self.f("eps")?,
            weight_decay: self.f_or("weight_decay", 0.0)?,
            decoupled,
            maximize: self.b("maximize")?,
        })
    }
}

/// The rule for `kind` with the group's hyper-parameters.
fn config(kind: &str, d: &Bound<'_, PyDict>) -> PyResult<Config> {
    let g = Group { d, op: kind };
    Ok(match kind {
        "sgd" => Config::Sgd(Sgd {
            lr: g.f("lr")?,
            momentum: g.f_or("momentum", 0.0)?,
            dampening: g.f_or("dampening", 0.0)?,
            nesterov: g.b("nesterov")?,
            weight_decay: g.f_or("weight_decay", 0.0)?,
            maximize: g.b("maximize")?,
        }),
        "adam" | "adamw" => Config::Adam(Adam {
            m: g.moments(kind == "adamw" || g.b("decoupled_weight_decay")?)?,
            amsgrad: g.b("amsgrad")?,
        }),
        "radam" => Config::RAdam(RAdam {
            m: g.moments(g.b("decoupled_weight_decay")?)?,
        }),
        "nadam" => Config::NAdam(NAdam {
            m: g.moments(g.b("decoupled_weight_decay")?)?,
            momentum_decay: g.f("momentum_decay")?,
        }),
        "adamax" => Config::Adamax(Adamax {
            m: g.moments(false)?,
        }),
        "adagrad" => Config::Adagrad(Adagrad {
            lr: g.f("lr")?,
            lr_decay: g.f_or("lr_decay", 0.0)?,
            weight_decay: g.f_or("weight_decay", 0.0)?,
            initial_accumulator_value: g.f_or("initial_accumulator_value", 0.0)?,
            eps: g.f("eps")?,
            maximize: g.b("maximize")?,
        }),
        "rmsprop" => Config::RmsProp(RmsProp {
            lr: g.f("lr")?,
            alpha: g.f("alpha")?,
            eps: g.f("eps")?,
            weight_decay: g.f_or("weight_decay", 0.0)?,
            momentum: g.f_or("momentum", 0.0)?,
            centered: g.b("centered")?,
            maximize: g.b("maximize")?,
        }),
        "adabound" => {
            let (beta1, beta2) = g.betas()?;
            let lr = g.f("lr")?;
            // the final lr follows the schedule: final_lr * lr / initial lr
            let base = g.f_or("base_lr", lr)?;
            Config::AdaBound(AdaBound {
                lr,
                beta1,
                beta2,
                final_lr: g.f("final_lr")? * lr / base,
                gamma: g.f("gamma")?,
                eps: g.f("eps")?,
                weight_decay: g.f_or("weight_decay", 0.0)?,
                amsbound: g.b("amsbound")?,
            })
        }
        "adabelief" => {
            let (beta1, beta2) = g.betas()?;
            Config::AdaBelief(AdaBelief {
                lr: g.f("lr")?,
                beta1,
                beta2,
                eps: g.f("eps")?,
                weight_decay: g.f_or("weight_decay", 0.0)?,
                decoupled: g.b("decoupled_weight_decay")?,
                amsgrad: g.b("amsgrad")?,
            })
        }
        "adamp" => {
            let (beta1, beta2) = g.betas()?;
            Config::AdamP(AdamP {
                lr: g.f("lr")?,
                beta1,
                beta2,
                eps: g.f("eps")?,
                weight_decay: g.f_or("weight_decay", 0.0)?,
                delta: g.f("delta")?,
                wd_ratio: g.f("wd_ratio")?,
                nesterov: g.b("nesterov")?,
            })
        }
        "lion" => {
            let (beta1, beta2) = g.betas()?;
            Config::Lion(Lion {
                lr: g.f("lr")?,
                beta1,
                beta2,
                weight_decay: g.f_or("weight_decay", 0.0)?,
                maximize: g.b("maximize")?,
            })
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "optim_step: unknown optimizer '{other}'"
            )));
        }
    })
}

/// One optimizer step over a parameter group; updates params and state dicts in place.
#[pyfunction]
fn optim_step(
    py: Python<'_>,
    kind: &str,
    params: &Bound<'_, PyAny>,
    grads: &Bound<'_, PyAny>,
    states: &Bound<'_, PyList>,
    group: &Bound<'_, PyDict>,
) -> PyResult<()> {
    let cfg = config(kind, group)?;
    let (p, g) = (tensors(params)?, tensors(grads)?);
    let names = cfg.state_names();
    let aux_name = cfg.aux_name();
    let mut st = Vec::with_capacity(states.len());
    let dicts: Vec<Bound<'_, PyDict>> = states
        .iter()
        .map(|d| d.cast_into::<PyDict>().map_err(PyErr::from))
        .collect::<PyResult<_>>()?;
    for d in &dicts {
        let mut bufs = Vec::with_capacity(names.len());
        for n in &names {
            bufs.push(match d.get_item(n)? {
                Some(t) if !t.is_none() => Some(t.cast::<PyTensor>()?.get().t.clone()),
                _ => None,
            });
        }
        let step = match d.get_item("step")? {
            Some(s) => number(&s)?,
            None => 0.0,
        };
        let aux = match (
            aux_name,
            aux_name.map(|n| d.get_item(n)).transpose()?.flatten(),
        ) {
            (Some(_), Some(v)) => number(&v)?,
            _ => 1.0,
        };
        st.push(ParamState { bufs, step, aux });
    }
    let out = py.detach(move || ops::optim::step(&cfg, &p, &g, st)).py()?;
    for (d, s) in dicts.iter().zip(out) {
        for (n, b) in names.iter().zip(s.bufs) {
            if let Some(b) = b {
                d.set_item(n, PyTensor::from(b))?;
            }
        }
        if cfg.counts_steps() {
            d.set_item("step", s.step)?;
        }
        if let Some(n) = aux_name {
            d.set_item(n, s.aux)?;
        }
    }
    Ok(())
}

/// The state keys `optim_step` keeps for `kind` with this group's settings.
#[pyfunction]
fn optim_state_names(kind: &str, group: &Bound<'_, PyDict>) -> PyResult<Vec<&'static str>> {
    let cfg = config(kind, group)?;
    let mut v = cfg.state_names();
    v.extend(cfg.counts_steps().then_some("step"));
    v.extend(cfg.aux_name());
    Ok(v)
}

/// Scales all gradients so their total `norm_type` norm is at most
/// `max_norm`; returns the total norm (before clipping) as a 0-d tensor.
#[pyfunction]
#[pyo3(signature = (grads, max_norm, norm_type=2.0, error_if_nonfinite=false))]
fn clip_grad_norm(
    py: Python<'_>,
    grads: &Bound<'_, PyAny>,
    max_norm: f64,
    norm_type: f64,
    error_if_nonfinite: bool,
) -> PyResult<PyTensor> {
    let g: Vec<Tensor> = tensors(grads)?;
    py.detach(move || ops::clip::clip_grad_norm(&g, max_norm, norm_type, error_if_nonfinite))
        .py()
        .map(Into::into)
}

/// The total `norm_type` norm of all gradients (no clipping).
#[pyfunction]
#[pyo3(signature = (grads, norm_type=2.0))]
fn grad_total_norm(py: Python<'_>, grads: &Bound<'_, PyAny>, norm_type: f64) -> PyResult<f64> {
    let g: Vec<Tensor> = tensors(grads)?;
    py.detach(move || ops::clip::total_norm("get_total_norm", &g, norm_type))
        .py()
}

/// Clamps all gradients to [-clip_value, clip_value] in place.
#[pyfunction]
fn clip_grad_value(py: Python<'_>, grads: &Bound<'_, PyAny>, clip_value: f64) -> PyResult<()> {
    let g: Vec<Tensor> = tensors(grads)?;
    py.detach(move || ops::clip::clip_grad_value(&g, clip_value))
        .py()
}

/// STREAM copy/triad and in-place update bandwidth of this machine on dlcore's pool, as a dict.
#[pyfunction]
#[pyo3(signature = (array_mib=64, repeats=5))]
fn memory_bandwidth(
    py: Python<'_>,
    array_mib: usize,
    repeats: usize,
) -> PyResult<Bound<'_, PyDict>> {
    if array_mib == 0 || array_mib > 4096 {
        return Err(PyValueError::new_err(format!(
            "memory_bandwidth: array_mib must be in 1..=4096, got {array_mib}"
        )));
    }
    let m = py.detach(move || dlcore_core::cpu::membw::measure(array_mib, repeats));
    let d = PyDict::new(py);
    d.set_item("copy_gbs", m.copy_gbs)?;
    d.set_item("triad_gbs", m.triad_gbs)?;
    d.set_item("update_gbs", m.update_gbs)?;
    d.set_item("array_bytes", m.array_bytes)?;
    d.set_item("threads", m.threads)?;
    Ok(d)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(optim_step, m)?)?;
    m.add_function(wrap_pyfunction!(optim_state_names, m)?)?;
    m.add_function(wrap_pyfunction!(clip_grad_norm, m)?)?;
    m.add_function(wrap_pyfunction!(grad_total_norm, m)?)?;
    m.add_function(wrap_pyfunction!(clip_grad_value, m)?)?;
    m.add_function(wrap_pyfunction!(memory_bandwidth, m)?)?;
    Ok(())
}
