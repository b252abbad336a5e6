package io.hotmem.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What the fast path's building blocks cost on this machine, single thread, uncontended: a ThreadLocal lookup, a
 * CAS and a full fence on a field only this thread uses, and a release store. The thread-cache protocol is chosen
 * by these numbers (see ThreadCache). {@link #writePinPair} and {@link #writeAnnounced} are the two ways to keep a
 * write off a block a mover copies: today's pin pair (a CAS to pin, a get-and-add to unpin) against an asymmetric
 * announcement (the writer's own slot written with an opaque store and cleared with a release store, the state
 * checked with one load, the mover paying a membarrier), each around one plain 8-byte store; only the writer's
 * side is measured.
 */
@State(Scope.Thread)
public class PrimitivesBenchmark extends BenchmarkBase {
    private static final VarHandle WORD;

    static {
        try {
            WORD = MethodHandles.lookup().findVarHandle(PrimitivesBenchmark.class, "word", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static final ThreadLocal<long[]> LOCAL = ThreadLocal.withInitial(() -> new long[1]);
    private static final VarHandle LONGS = MethodHandles.arrayElementVarHandle(long[].class);
    private final long[] entries = new long[4];
    private final long[] data = new long[64];
    private final long[] announce = new long[16];
    private volatile long word;
    private long plain;

    @Benchmark
    public long plainIncrement() {
        return ++plain;
    }

    @Benchmark
    public long threadLocalGet() {
        return ++LOCAL.get()[0];
    }

    @Benchmark
    public boolean casOwnField() {
        long w = (long) WORD.getAcquire(this);
        return WORD.compareAndSet(this, w, w + 1);
    }

    @Benchmark
    public long volatileStore() {
        long w = plain + 1;
        plain = w;
        WORD.setVolatile(this, w);
        return w;
    }

    @Benchmark
    public long writePinPair() {
        long s = (long) LONGS.getVolatile(entries, 0);
        if (!LONGS.compareAndSet(entries, 0, s, s + 1)) {
            return -1;
        }
        long v = ++plain;
        data[8] = v;
        LONGS.getAndAdd(entries, 0, -1L);
        return v;
    }

    @Benchmark
    public long writeAnnounced() {
        LONGS.setOpaque(announce, 8, 1L); // this thread's slot: "writing slot 1"
        long s = (long) LONGS.getAcquire(entries, 0);
        if ((s & 0x10000L) != 0) { // MOVING: would fall back to the pin path
            LONGS.setRelease(announce, 8, 0L);
            return -1;
        }
        long v = ++plain;
        data[8] = v;
        LONGS.setRelease(announce, 8, 0L);
        return v;
    }

    @Benchmark
    public long releaseStore() {
        long w = plain + 1;
        plain = w;
        WORD.setRelease(this, w);
        return w;
    }
}
