package io.hotmem.bench;

import org.openjdk.jmh.annotations.Threads;

/** {@link MixedPatternBenchmark} with two threads, each with its own live buffers, sharing each allocator. */
@Threads(2)
public class MixedPatternTwoThreadsBenchmark extends MixedPatternBenchmark {
}
