package io.hotmem.bench;

import org.openjdk.jmh.annotations.Threads;

/**
 * {@link AllocFreeBenchmark} with two threads sharing each allocator: the time per operation is each thread's, so
 * the aggregate throughput against one thread is {@code 2 * oneThreadTime / twoThreadTime}.
 */
@Threads(2)
public class AllocFreeTwoThreadsBenchmark extends AllocFreeBenchmark {
}
