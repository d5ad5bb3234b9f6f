// Run by the consumer builds as `java -cp <the project's runtime class path> ClasspathCheck.java FRAGMENT...`:
// prints the class path's jar count and size and fails when a jar's path contains a forbidden fragment.
import java.io.File;

public class ClasspathCheck {
    public static void main(String[] args) {
        String[] entries = System.getProperty("java.class.path").split(File.pathSeparator);
        long bytes = 0;
        int jars = 0;
        StringBuilder bad = new StringBuilder();
        for (String e : entries) {
            if (!e.endsWith(".jar")) {
                continue;
            }
            jars++;
            bytes += new File(e).length();
            String path = e.replace(File.separatorChar, '/');
            for (String f : args) {
                if (path.contains(f)) {
                    bad.append("\n  ").append(path.substring(path.lastIndexOf('/') + 1)).append(" (").append(f).append(')');
                }
            }
        }
        System.out.printf("runtime class path: %d jars, %.1f MB%n", jars, bytes / 1e6);
        if (bad.length() > 0) {
            System.err.println("forbidden jars on the runtime class path:" + bad);
            System.exit(1);
        }
    }
}
