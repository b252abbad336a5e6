package io.hotmem.bench;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * What the fast path's building blocks cost on this machine, single thread, uncontended: a ThreadLocal lookup, a
 * CAS and a full fence on a field only this thread uses, and a release store. The thread-cache protocol is chosen
 * by these numbers (see ThreadCache).
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
    public long releaseStore() {
        long w = plain + 1;
        plain = w;
        WORD.setRelease(this, w);
        return w;
    }
}
