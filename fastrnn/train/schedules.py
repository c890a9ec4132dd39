"""Learning-rate schedules: lr as a function of the epoch, applied to an optimizer's `lr` by step().

    InverseTimeLR   lr(e) = lr0 / (1 + decay * e)             (the 1/(1 + d*epoch) decay of the classic recipes)
    StepLR          lr(e) = lr0 * gamma ** floor(e / step_size)          (torch.optim.lr_scheduler.StepLR)
    ExponentialLR   lr(e) = lr0 * gamma ** e                             (torch.optim.lr_scheduler.ExponentialLR)

lr0 is the optimizer's lr when the schedule is made; e counts step() calls (call it once per epoch, after the
epoch's optimizer steps, as in torch). lr_at(e) is pure: it computes the rate without changing anything.
"""

from .. import _validation as v


class Schedule:
    """Shared machinery: remembers lr0, counts epochs, writes lr_at(epoch) into optimizer.lr."""

    def __init__(self, optimizer):
        self.optimizer = optimizer  # anything with a float attribute `lr`
        self.base_lr = float(optimizer.lr)
        self.epoch = 0

    def step(self):
        """Advance one epoch and set the optimizer's lr for it; returns that lr."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def lr_at(self, epoch):
        raise NotImplementedError


class InverseTimeLR(Schedule):
    """lr(e) = lr0 / (1 + decay * e)."""

    def __init__(self, optimizer, decay):
        if decay < 0:
            raise ValueError(f"decay must be >= 0; got {decay}")
        super().__init__(optimizer)
        self.decay = float(decay)

    def lr_at(self, epoch):
        return self.base_lr / (1.0 + self.decay * epoch)


class StepLR(Schedule):
    """lr(e) = lr0 * gamma ** (e // step_size): multiply by gamma every step_size epochs."""

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size = v.as_positive_int(step_size, "step_size")
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """lr(e) = lr0 * gamma ** e."""

    def __init__(self, optimizer, gamma):
        super().__init__(optimizer)
        self.gamma = float(gamma)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch
