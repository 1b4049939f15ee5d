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
