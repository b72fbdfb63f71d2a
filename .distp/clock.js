// Time for logic that waits (retries, reload windows, the work queue): passed
// in, so unit tests drive it with a fake clock instead of sleeping.
/** The real clock. Its timers do not keep the process alive. */
export const systemClock = {
    now: () => Date.now(),
    setTimeout: (run, ms) => {
        const timer = setTimeout(run, ms);
        timer.unref();
        return timer;
    },
    clearTimeout: (handle) => clearTimeout(handle),
};
//# sourceMappingURL=clock.js.map