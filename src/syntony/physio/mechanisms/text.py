"""Words of the mechanism results: summaries, plain sentences on the tests, methods text."""

from __future__ import annotations

from typing import Any

import numpy as np

from syntony.physio.mechanisms._references import cite
from syntony.report import methods_text

__all__ = [
    "directed_methods",
    "directed_summary",
    "gated_methods",
    "gated_summary",
    "pooled_methods",
    "pooled_summary",
    "sentences",
    "switching_methods",
    "switching_summary",
]

_ALPHA = 0.05


def _p(p: float) -> str:
    return "n/a" if not np.isfinite(p) else f"{p:.2g}"


def _ci(result: Any, name: str) -> str:
    lo, hi = result.interval(name)
    return f"{result.estimate(name):.4g} (95% CI {lo:.4g} to {hi:.4g})"


def _pseudo_sentence(row: dict | None, what: str) -> str | None:
    if row is None:
        return None
    n, p = int(row["n"]), float(row["p_value"])
    k = round(p * (n + 1) - 1)
    exceeded = n - k
    if p <= _ALPHA:
        return (
            f"The real group's {what} exceeds that of {exceeded} of {n} pseudo-groups "
            f"(p = {_p(p)}): groups who shared only the stimulus do not show it."
        )
    return (
        f"The real group's {what} exceeds that of {exceeded} of {n} pseudo-groups "
        f"(p = {_p(p)}): groups who shared only the stimulus show as much, so the stimulus may "
        "explain it."
    )


def sentences(result: Any) -> list[str]:
    """One plain sentence per test of a mechanism result."""
    kind = result.kind
    out: list[str] = []
    if kind == "gated-fit":
        row = result.test(result.LRT)
        g, (lo, hi) = result.estimate("g"), result.interval("g")
        p = float(row["p_value"])
        if p > _ALPHA:
            out.append(
                f"The likelihood-ratio test does not reject g = 0 (chi-square = "
                f"{row['statistic']:.3g}, p = {_p(p)}): these data do not show that synchrony "
                f"raises the weight given to another's signal (g = {g:.3g}, 95% CI {lo:.3g} to "
                f"{hi:.3g})."
            )
        elif g > 0:
            out.append(
                f"The likelihood-ratio test rejects g = 0 (chi-square = {row['statistic']:.3g}, "
                f"p = {_p(p)}): people are pulled more by those they have been more in synchrony "
                f"with, as eq (2) predicts (g = {g:.3g}, 95% CI {lo:.3g} to {hi:.3g})."
            )
        else:
            out.append(
                f"The likelihood-ratio test rejects g = 0 (p = {_p(p)}) but g = {g:.3g} is "
                "negative: people are pulled less by those they have been in synchrony with, "
                "the opposite of eq (2)."
            )
        if not (np.isfinite(lo) and np.isfinite(hi)):
            out.append(
                "g has no interval (it reached the end of its range): with coupling this weak "
                f"(c = {result.estimate('c'):.3g}) the gate is barely identified, so read the test "
                "with care."
            )
        s = _pseudo_sentence(result.test(result.PSEUDO), "evidence for the gate")
        if s:
            out.append(s)
    elif kind == "switching-fit":
        boot = result.test(result.BOOT)
        gap = result.estimate("b_gap")
        if boot is None:
            out.append(
                "No bootstrap test of the number of modes was run (n_boot = 0); the likelihood "
                "ratio alone has no valid reference distribution."
            )
        elif float(boot["p_value"]) <= _ALPHA:
            out.append(
                f"Two modes fit better than one beyond what one-mode series produce "
                f"(likelihood ratio {boot['statistic']:.3g}, bootstrap p = {_p(boot['p_value'])}):"
                f" the group moves between resting levels {gap:.3g} apart."
            )
        else:
            out.append(
                f"Two modes do not fit better than one-mode series do by chance (likelihood ratio "
                f"{boot['statistic']:.3g}, bootstrap p = {_p(boot['p_value'])}): no evidence of "
                "switching between resting levels."
            )
        s = _pseudo_sentence(result.test(result.PSEUDO), "evidence for two modes")
        if s:
            out.append(s)
    elif kind == "directed-fit":
        for _, row in result.tests.iterrows():
            name, p = str(row["test"]), float(row["p_value"])
            if "pseudo" in name or not np.isfinite(p):
                continue
            what = {
                "likelihood ratio (no sender effects)": "some people pull the others harder "
                "than the rest do",
                "likelihood ratio (no receiver effects)": "some people are pulled harder than "
                "the rest are",
                "likelihood ratio (one pull for all pairs)": "the pulls differ between pairs",
            }.get(name, name)
            verdict = "the data say" if p <= _ALPHA else "the data do not show that"
            out.append(f"{verdict[0].upper()}{verdict[1:]} {what} ({name}: p = {_p(p)}).")
        influence = result.influence
        if influence is not None and len(influence):
            lead = influence.sort_values("send", ascending=False).iloc[0]
            follow = influence.sort_values("recv", ascending=False).iloc[0]
            out.append(
                f"Strongest sender: {lead['person']} (pulls {lead['send_factor']:.2g} times the "
                f"group's typical pull); most pulled: {follow['person']} "
                f"({follow['recv_factor']:.2g} times)."
            )
        s = _pseudo_sentence(result.test(result.PSEUDO), "evidence for unequal pulls")
        if s:
            out.append(s)
    elif kind == "pooled-fit":
        for p in ("c", "g"):
            if f"mu_{p}" not in set(result.params["parameter"]):
                continue
            lo, hi = result.interval(f"mu_{p}")
            lr = result.test(f"likelihood ratio (tau_{p} = 0)")
            spread = (
                f"the groups differ (tau = {result.estimate(f'tau_{p}'):.3g}, p = "
                f"{_p(lr['p_value'])})"
                if float(lr["p_value"]) <= _ALPHA
                else f"no evidence that the groups differ (p = {_p(lr['p_value'])})"
            )
            out.append(
                f"Pooled {p} = {result.estimate(f'mu_{p}'):.3g} (95% CI {lo:.3g} to {hi:.3g}); "
                f"{spread}."
            )
    return out


# -- summaries ----------------------------------------------------------------------------------
def _footer(result: Any) -> list[str]:
    return [*sentences(result), *(f"note: {n}" for n in result.warnings)]


def gated_summary(result: Any) -> str:
    row = result.test(result.LRT)
    return "\n".join(
        [
            f"g = {_ci(result, 'g')}; c = {_ci(result, 'c')}",
            f"LRT of g = 0: chi2 = {row['statistic']:.3g}, p = {_p(row['p_value'])}",
            *_footer(result),
        ]
    )


def switching_summary(result: Any) -> str:
    p = result.mode_probability
    lines = [
        f"b_low = {_ci(result, 'b_low')}; b_high = {_ci(result, 'b_high')}",
        f"switches per s: up {_ci(result, 'rate_up')}, down {_ci(result, 'rate_down')}"
        + (" without stimulus" if result.parameters.get("hazard") == "stimulus" else "")
        + f"; time in the high mode {100 * float(np.mean(p > 0.5)):.0f}%",
    ]
    if result.parameters.get("hazard") == "stimulus":
        lines.append(
            f"hazard slopes per stimulus SD: up {_ci(result, 'h_up')}, down {_ci(result, 'h_down')}"
        )
    return "\n".join([*lines, *_footer(result)])


def directed_summary(result: Any) -> str:
    row = result.test("likelihood ratio (one pull for all pairs)")
    lines = [f"c = {_ci(result, 'c')}"]
    if row is not None:
        lines.append(f"{row['test']}: chi2 = {row['statistic']:.3g}, p = {_p(row['p_value'])}")
    return "\n".join([*lines, *_footer(result)])


def pooled_summary(result: Any) -> str:
    n = int(result.parameters.get("n_groups", len(result.groups)))
    lines = [f"{n} groups, {result.parameters.get('group_model', 'linear')} model in each"]
    return "\n".join([*lines, *_footer(result)])


# -- methods ------------------------------------------------------------------------------------
def _data_sentence(result: Any) -> str:
    ds = result.fitted
    n = len(result.persons)
    dt = float(ds.attrs.get("dt", float("nan")))
    centred = "centred on its own mean" if result.parameters.get("center", True) else "as recorded"
    return (
        f"Each person's series ({ds.attrs.get('variable', 'y')}, {n} people, one sample every "
        f"{dt:g} s, {ds.sizes['time']} samples) was {centred} and modelled as a "
        "linear-Gaussian state-space process in which every member relaxes toward a baseline at "
        "rate lambda and is pulled toward those they perceive (random-walk normalised "
        "Laplacian of the perception network), with process noise q and measurement noise r"
        + (
            "; a shared stimulus enters with weight beta"
            if result.parameters.get("stimulus")
            else ""
        )
        + "."
    )


def _estimation_sentence() -> str:
    return (
        "Parameters were estimated by maximising the likelihood with L-BFGS-B from moment-based "
        "starting values; standard errors come from the inverse of the numerical Hessian (delta "
        "method for parameters fitted on a log or logit scale) and intervals are 95% Wald "
        "intervals on the fitted scale."
    )


def _pseudo_paragraph(result: Any, name: str, what: str) -> str | None:
    row = result.test(name)
    if row is None:
        return None
    return (
        f"{int(row['n'])} pseudo-groups (Bernieri et al., 1988; Ramseyer and Tschacher, 2010) of "
        "the group's size were drawn from this session and another session on the same time "
        f"base (at least one member from each) and fitted the same way; the statistic was {what}"
        ", and the p-value is the share of pseudo-groups at least as large as the real group, "
        "counted as (1 + k) / (1 + n) (Phipson and Smyth, 2010)."
    )


def gated_methods(result: Any) -> str:
    p = result.parameters
    weighting = (
        f"over the preceding {p['window']:g} s"
        if p.get("weighting") == "boxcar"
        else f"with exponentially decaying weights of time constant {p['window']:g} s"
    )
    gate = (
        "The pull of person j on person i at time t was c w_ij(t), with w_ij(t) = 1 + g "
        "(omega_ij(t) / mean_k omega_ik(t) - 1), where omega_ij(t) is the precision of eq (2) "
        "of the model (Schoeller et al.), the inverse of sigma_i + sigma_j - 2 rho_ij "
        f"sqrt(sigma_i sigma_j), computed from the observed series {weighting} up to and "
        "including t; the mean runs over the people i perceives, so the weights of each person "
        "average one and c stays the total pull. g = 0 is constant coupling; g = 1 weighs "
        "others in proportion to eq (2). Because the weights depend only on past observations, "
        "the model is conditionally Gaussian and the Kalman filter gives its exact likelihood "
        f"(Harvey, 1989; Durbin and Koopman, 2012); the first {p.get('warmup_s', 0):g} s, before "
        "a full window, were conditioned on."
    )
    test = (
        "g = 0 was tested by refitting the linear model on the same samples and referring twice "
        "the log-likelihood difference to a chi-square distribution with one degree of freedom "
        "(Wilks, 1938; g may be negative, so 0 is an interior point); AIC (Akaike, 1974) and BIC "
        "(Schwarz, 1978) of both are reported."
    )
    paras = [_data_sentence(result), gate, _estimation_sentence(), test]
    pseudo = _pseudo_paragraph(
        result, result.PSEUDO, "the signed square root of the g = 0 likelihood ratio"
    )
    keys = ["akaike", "durbin", "harvey", "schoeller", "schwarz", "wilks"]
    if pseudo:
        paras.append(pseudo)
        keys += ["bernieri", "ramseyer", "phipson"]
    return methods_text(*paras, references=cite(*keys))


def switching_methods(result: Any) -> str:
    p = result.parameters
    per_mode = p.get("couplings") == "per-mode"
    model = (
        "The group was given two latent modes, low and high, each with its own baseline"
        + (" and its own coupling" if per_mode else "")
        + ", and a first-order Markov chain switching between them with per-step probabilities "
        "p_up and p_down (Hamilton, 1989), the group-level counterpart of the defensive and "
        "affiliative modes of the model's contagion loop"
        + (
            "; the logits of both probabilities moved linearly with the stimulus "
            f"{int(p.get('hazard_lag', 1))} step(s) earlier (slopes h_up and h_down), so that a "
            "stimulus could trigger the switch"
            if p.get("hazard") == "stimulus"
            else ""
        )
        + ". The likelihood was computed with "
        "Kim's (1994) filter, which after each step collapses the four Gaussian components of "
        "the mode pairs to one per mode (the approximation behind the interacting multiple "
        "model of Blom and Bar-Shalom, 1988)"
        + (
            "; with one coupling on a symmetric network the modes move only the group-mean "
            "component, so the filter ran as one scalar switching filter plus independent scalar "
            "Kalman filters for the other components, which is the same likelihood"
            if "scalar" in str(p.get("filter", ""))
            else ""
        )
        + ". Mode probabilities over time are Kim's smoothed probabilities."
    )
    test = (
        "One mode against two was tested by a parametric bootstrap of the likelihood ratio "
        "(McLachlan, 1987; Feng and McCulloch, 1996): series were simulated from the fitted "
        "one-mode model with the data's stimulus and missing samples, both models were refitted "
        "to each with the same starting rule, and the p-value is (1 + k) / (1 + n) (Phipson and "
        "Smyth, 2010). The chi-square reference does not apply because the switching parameters "
        "are not identified under one mode."
    )
    paras = [_data_sentence(result), model, _estimation_sentence(), test]
    keys = ["blom", "durbin", "feng", "hamilton", "kim", "mclachlan", "phipson"]
    pseudo = _pseudo_paragraph(
        result, result.PSEUDO, "the likelihood ratio of two modes against one"
    )
    if pseudo:
        paras.append(pseudo)
        keys += ["bernieri", "ramseyer"]
    return methods_text(*paras, references=cite(*keys))


def directed_methods(result: Any) -> str:
    p = result.parameters
    if p.get("structure") == "pairs":
        pulls = "Each ordered pair had its own pull c exp(e_ij), with the e_ij summing to zero"
    else:
        pulls = (
            "The pull of person j on person i was c exp(recv_i + send_j), the sender and "
            "receiver effects of the social relations model (Kenny and La Voie, 1984), each set "
            "summing to zero over the group"
        )
    model = (
        f"{pulls}, so c is the group's typical pull and all effects zero gives the linear "
        "model's single c. The effects had a Gaussian prior with standard deviation "
        f"{p.get('prior_sd', 1.0):g} on the log scale (a ridge penalty; Hoerl and Kennard, "
        "1970) that keeps them identifiable when coupling is weak; estimates are the posterior "
        "mode and their intervals come from the curvature of the penalised likelihood. The "
        "likelihood came from the Kalman filter (Durbin and Koopman, 2012), run with a frozen "
        "gain once the Riccati recursion had converged (the same likelihood, in O(T N^2))."
    )
    test = (
        "Effects were tested by likelihood ratios against the model refitted without them "
        "(chi-square with as many degrees of freedom as effects removed; Wilks, 1938), with the "
        "likelihoods evaluated at the penalised estimates."
    )
    paras = [_data_sentence(result), model, _estimation_sentence(), test]
    keys = ["akaike", "durbin", "hoerl", "kenny", "schwarz", "wilks"]
    pseudo = _pseudo_paragraph(
        result,
        result.PSEUDO,
        "the likelihood ratio of the directed model against one pull for all pairs",
    )
    if pseudo:
        paras.append(pseudo)
        keys += ["bernieri", "ramseyer", "phipson"]
    return methods_text(*paras, references=cite(*keys))


def pooled_methods(result: Any) -> str:
    p = result.parameters
    what = "c and the gate g" if p.get("group_model") == "gated" else "c"
    first = (
        f"Each of {p.get('n_groups')} groups was fitted on its own with the "
        f"{p.get('group_model', 'linear')} contagion model (maximum likelihood, Kalman filter; "
        "Durbin and Koopman, 2012), giving estimates of "
        f"{what} with standard errors from the curvature of the group's likelihood. That "
        "curvature is a Laplace approximation of the group's likelihood (Tierney and Kadane, "
        "1986); with the group values drawn from a normal distribution with mean mu and "
        "standard deviation tau, the marginal likelihood of the estimates is then Gaussian."
    )
    second = (
        "tau^2 was estimated by restricted maximum likelihood (Viechtbauer, 2005), mu with the "
        "Hartung-Knapp-Sidik-Jonkman interval (Hartung and Knapp, 2001; Sidik and Jonkman, "
        "2002), tau^2 with the Q-profile interval (Viechtbauer, 2007). tau = 0 was tested by "
        "the restricted likelihood ratio against a 50:50 mixture of chi-square(0) and "
        "chi-square(1) (Self and Liang, 1987) and by Cochran's Q (DerSimonian and Laird, 1986). "
        "Each group's shrunken estimate is its posterior mean given mu and tau (Efron and "
        "Morris, 1975), with a variance that includes the uncertainty of mu."
    )
    keys = [
        "dersimonian",
        "durbin",
        "efron",
        "hartung",
        "self",
        "sidik",
        "tierney",
        "viechtbauer2005",
        "viechtbauer2007",
    ]
    if p.get("bias_correction") == "jackknife":
        second = (
            "Before pooling, every group's estimate was corrected for its small-sample bias by "
            "the split-sample jackknife (Quenouille, 1956; Phillips and Yu, 2005): twice the "
            "full-recording estimate minus the mean of the estimates from the two halves, each "
            "half fitted on its own; the standard error of the full fit was kept. " + second
        )
        keys += ["phillips", "quenouille"]
    return methods_text(first, second, references=cite(*keys))
