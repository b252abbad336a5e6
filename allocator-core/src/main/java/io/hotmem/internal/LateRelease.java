package io.hotmem.internal;

import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Retries, after close, the release of memory that close had to leave mapped because an operation (blocking I/O)
 * was using a segment of it: every {@link #PERIOD_MILLIS} ms until the attempt succeeds. One daemon thread for the
 * whole JVM, started on first use and gone after a second without work; a task holds its allocator's lifecycle
 * until its memory is released, and nothing after.
 */
final class LateRelease {
    /** Between attempts. */
    static final long PERIOD_MILLIS = 100;

    private static final ScheduledThreadPoolExecutor RETRIES = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "hotmem-late-release");
        t.setDaemon(true);
        return t;
    });

    static {
        RETRIES.setKeepAliveTime(1, TimeUnit.SECONDS);
        RETRIES.allowCoreThreadTimeOut(true);
    }

    private LateRelease() {
    }

    /**
     * Runs {@code attempt} every {@link #PERIOD_MILLIS} ms, first after one period, until it returns true. An
     * attempt that throws is logged and not retried (the memory then stays mapped, as it would without this).
     *
     * @param what for the log
     */
    static void retry(String what, BooleanSupplier attempt) {
        RETRIES.schedule(() -> attempt(what, attempt), PERIOD_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** One attempt; the next is scheduled unless this one succeeded or threw. */
    private static void attempt(String what, BooleanSupplier attempt) {
        boolean done;
        try {
            done = attempt.getAsBoolean();
        } catch (RuntimeException | Error e) {
            Telemetry.LOG.log(System.Logger.Level.WARNING, what + ": the late release failed; the memory stays "
                    + "mapped", e);
            done = true;
        }
        if (!done) {
            retry(what, attempt);
        }
    }
}
