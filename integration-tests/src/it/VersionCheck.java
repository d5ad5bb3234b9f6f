// Run by the consumer builds as `java -cp <the project's runtime class path> VersionCheck.java ARTIFACT-VERSION...`:
// prints the version of Tribuo, protobuf, Jackson and ONNX Runtime on the class path and fails when a jar
// named by an argument (e.g. tribuo-core-4.3.1) is not the one loaded, or when jackson-core, -annotations
// and -databind differ (a NoClassDefFoundError waiting to happen).
import java.io.File;
import java.util.ArrayList;
import java.util.List;

public class VersionCheck {
    public static void main(String[] args) throws Exception {
        List<String> jars = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            jars.add(new File(e).getName());
        }
        String core = version(jars, "jackson-core-");
        String annotations = version(jars, "jackson-annotations-");
        String databind = version(jars, "jackson-databind-");
        System.out.printf("Tribuo %s, protobuf %s, ONNX Runtime %s, Jackson core %s / annotations %s / databind %s%n",
                version(jars, "tribuo-core-"), version(jars, "protobuf-java-"), version(jars, "onnxruntime-"), core,
                annotations, databind);
        boolean ok = core.equals(annotations) && core.equals(databind);
        for (String want : args) {
            if (!jars.contains(want + ".jar")) {
                System.err.println("expected " + want + ".jar on the class path");
                ok = false;
            }
        }
        if (!ok) {
            System.err.println("inconsistent versions on the class path: " + jars);
            System.exit(1);
        }
    }

    private static String version(List<String> jars, String prefix) {
        for (String j : jars) {
            if (j.startsWith(prefix) && j.endsWith(".jar") && Character.isDigit(j.charAt(prefix.length()))) {
                return j.substring(prefix.length(), j.length() - 4);
            }
        }
        return "absent";
    }
}
