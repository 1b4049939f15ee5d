from gensci.core.schedules import (  # noqa: F401
    CondOTSchedule,
    CosineSchedule,
    LinearSchedule,
    PolynomialSchedule,
    Schedule,
    VPSchedule,
    make_schedule,
)
from gensci.core.gaussian import GaussianDiffusion  # noqa: F401
from gensci.core.categorical import (  # noqa: F401
    CategoricalDiffusion,
    MarginalTransition,
    MixingTransition,
    UniformTransition,
)
from gensci.core.transport import wasserstein2  # noqa: F401
from gensci.core.couplings import (  # noqa: F401
    Coupling,
    ExactOTCoupling,
    GibbsWeightedCoupling,
    IndependentCoupling,
    PairedCoupling,
    Pairing,
    SinkhornCoupling,
)
from gensci.core.alignment import AlignedCoupling  # noqa: F401
from gensci.core.flow import FlowMatching  # noqa: F401
from gensci.core.bridge import SchrodingerBridge, gaussian_sb_coupling, gaussian_sb_marginal_cov  # noqa: F401
