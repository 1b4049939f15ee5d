from samplers.ddpm import DDPMSampler  # noqa: F401
from samplers.ddim import DDIMSampler  # noqa: F401
from samplers.categorical import CategoricalSampler  # noqa: F401
from samplers.ode import EulerSampler, HeunSampler, MidpointSampler  # noqa: F401
from samplers.sde import EulerMaruyamaSampler  # noqa: F401
from samplers.ctmc import DiscreteFlowSampler  # noqa: F401
from samplers.langevin import LangevinEulerSampler  # noqa: F401
