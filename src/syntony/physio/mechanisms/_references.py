"""The references the mechanism results cite (one place, cited by key)."""

from __future__ import annotations

REFERENCES = {
    "akaike": "Akaike H (1974). A new look at the statistical model identification. IEEE "
    "Transactions on Automatic Control 19(6):716-723. doi:10.1109/TAC.1974.1100705",
    "bernieri": "Bernieri FJ, Reznick JS, Rosenthal R (1988). Synchrony, pseudosynchrony, and "
    "dissynchrony: measuring the entrainment process in mother-infant interactions. Journal of "
    "Personality and Social Psychology 54(2):243-253. doi:10.1037/0022-3514.54.2.243",
    "blom": "Blom HAP, Bar-Shalom Y (1988). The interacting multiple model algorithm for "
    "systems with Markovian switching coefficients. IEEE Transactions on Automatic Control "
    "33(8):780-783. doi:10.1109/9.1299",
    "dersimonian": "DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. Controlled "
    "Clinical Trials 7(3):177-188. doi:10.1016/0197-2456(86)90046-2",
    "durbin": "Durbin J, Koopman SJ (2012). Time Series Analysis by State Space Methods, 2nd "
    "ed. Oxford University Press, Oxford. doi:10.1093/acprof:oso/9780199641178.001.0001",
    "efron": "Efron B, Morris C (1975). Data analysis using Stein's estimator and its "
    "generalizations. Journal of the American Statistical Association 70(350):311-319. "
    "doi:10.1080/01621459.1975.10479864",
    "feng": "Feng ZD, McCulloch CE (1996). Using bootstrap likelihood ratios in finite mixture "
    "models. Journal of the Royal Statistical Society Series B 58(3):609-617. "
    "doi:10.1111/j.2517-6161.1996.tb02104.x",
    "hamilton": "Hamilton JD (1989). A new approach to the economic analysis of nonstationary "
    "time series and the business cycle. Econometrica 57(2):357-384. doi:10.2307/1912559",
    "harvey": "Harvey AC (1989). Forecasting, Structural Time Series Models and the Kalman "
    "Filter. Cambridge University Press, Cambridge.",
    "hartung": "Hartung J, Knapp G (2001). On tests of the overall treatment effect in "
    "meta-analysis with normally distributed responses. Statistics in Medicine "
    "20(12):1771-1782. doi:10.1002/sim.791",
    "hoerl": "Hoerl AE, Kennard RW (1970). Ridge regression: biased estimation for "
    "nonorthogonal problems. Technometrics 12(1):55-67. doi:10.1080/00401706.1970.10488634",
    "kenny": "Kenny DA, La Voie L (1984). The social relations model. Advances in Experimental "
    "Social Psychology 18:141-182. doi:10.1016/S0065-2601(08)60144-6",
    "kim": "Kim C-J (1994). Dynamic linear models with Markov-switching. Journal of "
    "Econometrics 60(1-2):1-22. doi:10.1016/0304-4076(94)90036-1",
    "mclachlan": "McLachlan GJ (1987). On bootstrapping the likelihood ratio test statistic for "
    "the number of components in a normal mixture. Journal of the Royal Statistical Society "
    "Series C (Applied Statistics) 36(3):318-324. doi:10.2307/2347790",
    "phipson": "Phipson B, Smyth GK (2010). Permutation p-values should never be zero: "
    "calculating exact p-values when permutations are randomly drawn. Statistical Applications "
    "in Genetics and Molecular Biology 9(1):39. doi:10.2202/1544-6115.1585",
    "phillips": "Phillips PCB, Yu J (2005). Jackknifing bond option prices. Review of Financial "
    "Studies 18(2):707-742. doi:10.1093/rfs/hhi018",
    "quenouille": "Quenouille MH (1956). Notes on bias in estimation. Biometrika "
    "43(3-4):353-360. doi:10.1093/biomet/43.3-4.353",
    "ramseyer": "Ramseyer F, Tschacher W (2010). Nonverbal synchrony or random coincidence? "
    "How to tell the difference. In: Esposito A et al. (eds) Development of Multimodal "
    "Interfaces: Active Listening and Synchrony. Lecture Notes in Computer Science 5967. "
    "Springer, Berlin, pp 182-196. doi:10.1007/978-3-642-12397-9_15",
    "schoeller": "Schoeller F, Christov-Moore L, Reggente N. Emotional contagion: the role of "
    "interoceptive inference in affective empathy and co-regulation. Institute for Advanced "
    "Consciousness Studies, Santa Monica (preprint).",
    "schwarz": "Schwarz G (1978). Estimating the dimension of a model. The Annals of "
    "Statistics 6(2):461-464. doi:10.1214/aos/1176344136",
    "self": "Self SG, Liang K-Y (1987). Asymptotic properties of maximum likelihood estimators "
    "and likelihood ratio tests under nonstandard conditions. Journal of the American "
    "Statistical Association 82(398):605-610. doi:10.1080/01621459.1987.10478472",
    "sidik": "Sidik K, Jonkman JN (2002). A simple confidence interval for meta-analysis. "
    "Statistics in Medicine 21(21):3153-3159. doi:10.1002/sim.1262",
    "tierney": "Tierney L, Kadane JB (1986). Accurate approximations for posterior moments and "
    "marginal densities. Journal of the American Statistical Association 81(393):82-86. "
    "doi:10.1080/01621459.1986.10478240",
    "viechtbauer2005": "Viechtbauer W (2005). Bias and efficiency of meta-analytic variance "
    "estimators in the random-effects model. Journal of Educational and Behavioral Statistics "
    "30(3):261-293. doi:10.3102/10769986030003261",
    "viechtbauer2007": "Viechtbauer W (2007). Confidence intervals for the amount of "
    "heterogeneity in meta-analysis. Statistics in Medicine 26(1):37-52. doi:10.1002/sim.2514",
    "wilks": "Wilks SS (1938). The large-sample distribution of the likelihood ratio for "
    "testing composite hypotheses. The Annals of Mathematical Statistics 9(1):60-62. "
    "doi:10.1214/aoms/1177732360",
}


def cite(*keys: str) -> list[str]:
    """The references for ``keys``, sorted as a reference list is."""
    return sorted(REFERENCES[k] for k in dict.fromkeys(keys))
