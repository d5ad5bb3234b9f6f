package org.nextpatch.it;

import org.apache.hadoop.fs.RawLocalFileSystem;

import java.net.URI;

/**
 * Test only: local files under the scheme {@code nppfs:///}, so that the Spark jobs treat them as
 * shared storage (Hadoop streams, copies to the executor's disk) as they would {@code hdfs://} paths.
 */
public class RemoteLikeFileSystem extends RawLocalFileSystem {
    static final URI NAME = URI.create("nppfs:///");

    @Override
    public URI getUri() {
        return NAME;
    }

    @Override
    public String getScheme() {
        return "nppfs";
    }
}
