package io.hotmem.internal;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;

/**
 * PARANOID frees whose allocation's scope an operation held ({@link LeakDetector#untrack}): a {@code segment(h)}
 * taken between the free's two scope closes and put into blocking I/O. Such a free goes through, but its block and
 * slot are given back only once the scope closes, since the operation may still read or write the block; until
 * then the slot is FREE with its block still taken, as a thread cache holds its pairs (a mover finds it busy).
 *
 * <p><b>Protocol.</b> A free puts its record here <em>before</em> taking it out of the live records, so that the
 * allocator's close, which scans the live records and then these, meets it in one of them whenever it runs. Under
 * the record's monitor the free tries the scope's close; if an operation holds it, the free's give-back is stored in
 * the record ({@code afterScopeClosed}) in the same monitor hold, the block counted in its zone as held by an
 * operation ({@code Zone#holdForOperation}; the give-back uncounts it in the zone-lock hold of its free), and the
 * record stays; otherwise it leaves.
 * {@link #retry} runs on {@link LateRelease}'s thread every {@link LateRelease#PERIOD_MILLIS} ms while any record is
 * here: under each record's monitor it tries the close again and, once it succeeds, takes the give-back (set or not
 * in one monitor hold with the free's attempt, so it is run exactly once: by the free or by the retry) and runs it.
 * One chain of retries at a time ({@link #retrying}; {@link LateRelease} has one thread); it stops when nothing is
 * left or the allocator is closed.
 *
 * <p><b>Guarantees.</b> A block is never given back while an operation holds a segment of it; each deferred block
 * is given back once, after its operation ends, unless the allocator closes first (close closes the scopes it can,
 * keeps the range mapped while one is held, and the blocks go with the allocator's memory).
 */
final class StuckScopes {
    private final String name;
    private final BooleanSupplier closed;
    /** Keyed by record, not handle: a handle can come round again. */
    private final ConcurrentHashMap<LeakDetector.TrackedAllocation, Long> records = new ConcurrentHashMap<>();
    /** Whether a {@link #retry} is scheduled or running (set by whoever schedules it). */
    private final AtomicBoolean retrying = new AtomicBoolean();

    /**
     * @param closed whether the allocator is closed: the retries stop
     */
    StuckScopes(String name, BooleanSupplier closed) {
        this.name = name;
        this.closed = closed;
    }

    /** A free's record, before it leaves the live records. */
    void enter(LeakDetector.TrackedAllocation t, long handle) {
        records.put(t, handle);
    }

    /** The free closed the scope: the record goes. */
    void leave(LeakDetector.TrackedAllocation t) {
        records.remove(t);
    }

    /** The free's record stays, its give-back stored in it: makes sure a retry chain runs. */
    void retryLater() {
        if (retrying.compareAndSet(false, true)) {
            LateRelease.retry(name + ": stuck PARANOID scopes", this::retry);
        }
    }

    /** For close: every record here, with its handle. */
    void forEach(BiConsumer<LeakDetector.TrackedAllocation, Long> action) {
        records.forEach(action);
    }

    int size() {
        return records.size();
    }

    /**
     * One retry: closes each scope whose operation ended and runs its give-back.
     *
     * @return whether to stop (nothing is left, or the allocator is closed)
     */
    private boolean retry() {
        while (true) {
            if (closed.getAsBoolean()) {
                return true; // retrying stays set: nothing is scheduled any more
            }
            for (LeakDetector.TrackedAllocation t : records.keySet()) {
                Long handle = records.get(t);
                if (handle == null) {
                    continue;
                }
                Runnable giveBack;
                synchronized (t) {
                    try {
                        t.closeScope(handle);
                    } catch (IllegalStateException e) {
                        continue; // still inside the operation
                    }
                    giveBack = t.afterScopeClosed;
                    t.afterScopeClosed = null;
                }
                if (giveBack == null) {
                    continue; // a free in flight: it finds the scope closed and gives the block back itself
                }
                records.remove(t);
                try {
                    giveBack.run();
                } catch (RuntimeException | Error e) {
                    // Logged, and the others go on. Closed: the zone was unplugged meanwhile, the block went with it.
                    if (!closed.getAsBoolean()) {
                        logQuietly(name + ": the block of handle 0x" + Long.toHexString(handle)
                                + " could not be given back after its operation ended", e);
                    }
                }
            }
            if (!records.isEmpty()) {
                return false;
            }
            retrying.set(false);
            // A record that stayed after the check above scheduled nothing (retrying was set): take it over, or stop.
            if (records.isEmpty() || !retrying.compareAndSet(false, true)) {
                return true;
            }
        }
    }

    private static void logQuietly(String message, Throwable e) {
        try {
            Telemetry.LOG.log(System.Logger.Level.WARNING, message, e);
        } catch (RuntimeException | Error ignored) {
            // a log handler that throws must not stop the retries
        }
    }
}
