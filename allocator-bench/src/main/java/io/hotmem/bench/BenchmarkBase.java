package io.hotmem.bench;

import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * Settings shared by every hotmem benchmark: one forked JVM with native access for hotmem's mmap, JMH threads as
 * Netty threads (see {@link NettyThreadExecutor}), Netty's leak detection off, and Netty allowed its fastest
 * (Unsafe, cleaner-free direct buffers) so the peers run at their best. These flags are for the benchmark JVM
 * only; hotmem itself needs nothing but {@code --enable-native-access}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {
        "--enable-native-access=ALL-UNNAMED",
        "-Djmh.executor=CUSTOM",
        "-Djmh.executor.class=io.hotmem.bench.NettyThreadExecutor",
        "-Dio.netty.leakDetection.level=disabled",
        "--sun-misc-unsafe-memory-access=allow",
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/jdk.internal.misc=ALL-UNNAMED",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Xms1g", "-Xmx1g"})
public abstract class BenchmarkBase {
}
