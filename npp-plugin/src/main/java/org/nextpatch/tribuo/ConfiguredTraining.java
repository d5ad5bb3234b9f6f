package org.nextpatch.tribuo;

import com.oracle.labs.mlrg.olcut.config.ConfigurationManager;
import com.oracle.labs.mlrg.olcut.config.json.JsonConfigFactory;
import org.nextpatch.util.NppException;
import org.nextpatch.util.RegularFiles;
import org.tribuo.MutableDataset;

import java.nio.file.Path;
import java.util.List;

/**
 * Training from an OLCUT configuration file, for {@code npp train --config FILE}: the file's
 * {@link NppTrainer} is trained on a code directory ({@link CodeDirectorySource}) and the result is
 * saved as a Tribuo model file with full provenance. The command line goes through exactly the same
 * trainer as Tribuo users do.
 */
public final class ConfiguredTraining {

    private static volatile boolean jsonRegistered;

    private ConfiguredTraining() {
    }

    /** Lets {@link ConfigurationManager} read {@code .json} configuration files too. */
    public static void registerJson() {
        if (!jsonRegistered) {
            synchronized (ConfiguredTraining.class) {
                if (!jsonRegistered) {
                    ConfigurationManager.addFileFormatFactory(new JsonConfigFactory());
                    jsonRegistered = true;
                }
            }
        }
    }

    /**
     * Loads the NppTrainer of a configuration file.
     *
     * @param file XML or JSON OLCUT configuration
     * @param name the component's name, or null when the file holds exactly one NppTrainer
     * @throws NppException naming the file and the problem
     */
    public static NppTrainer loadTrainer(Path file, String name) {
        RegularFiles.requireRegular(file, "--config");
        registerJson();
        ConfigurationManager cm;
        try {
            cm = new ConfigurationManager(file.toString());
        } catch (RuntimeException e) {
            throw new NppException("--config " + file + ": " + oneLine(e));
        }
        String component = name;
        if (component == null) {
            List<String> trainers = cm.listAll(NppTrainer.class);
            if (trainers.size() != 1) {
                throw new NppException("--config " + file + ": expected one NppTrainer component, found "
                        + trainers.size() + (trainers.isEmpty() ? "" : " " + trainers + "; choose one with --config-name"));
            }
            component = trainers.get(0);
        }
        Object o;
        try {
            o = cm.lookup(component);
        } catch (RuntimeException e) {
            throw new NppException("--config " + file + ": component '" + component + "': " + oneLine(e));
        }
        if (!(o instanceof NppTrainer)) {
            throw new NppException("--config " + file + ": component '" + component + "' is "
                    + (o == null ? "missing" : "a " + o.getClass().getName() + ", not an NppTrainer"));
        }
        return (NppTrainer) o;
    }

    private static String oneLine(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t && (t.getMessage() == null || t.getMessage().isBlank())) {
            t = t.getCause();
        }
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        return m.replace('\n', ' ');
    }

    /**
     * Trains a configured trainer on a code directory and saves the model.
     *
     * @param trainer    the trainer (its results directory is set to {@code resultsDir})
     * @param codePath   code directory in the upstream layout
     * @param imageSize  extraction image size S
     * @param resultsDir where the loop's checkpoints and metrics go
     * @param modelFile  the Tribuo model file to write (atomically; weights over 2 GB beside it in
     *                   {@code modelFile.weights}, see {@link NppModel#save})
     * @return the trained model
     */
    public static NppModel trainAndSave(NppTrainer trainer, Path codePath, int imageSize, Path resultsDir,
                                        Path modelFile) {
        return trainAndSave(trainer, codePath, imageSize, resultsDir, modelFile, false);
    }

    /**
     * As {@link #trainAndSave(NppTrainer, Path, int, Path, Path)}, optionally on a code directory
     * whose extraction did not finish.
     *
     * @param allowIncompleteCodes read a directory whose extraction record says it did not finish
     * @return the trained model
     */
    public static NppModel trainAndSave(NppTrainer trainer, Path codePath, int imageSize, Path resultsDir,
                                        Path modelFile, boolean allowIncompleteCodes) {
        trainer.setResultsDir(resultsDir);
        CodeDirectorySource source = new CodeDirectorySource(codePath, imageSize, true, 0, allowIncompleteCodes);
        MutableDataset<TokenGrid> data = new MutableDataset<>(source);
        NppModel model = trainer.train(data);
        model.save(modelFile, null, NppModel.WeightsLayout.AUTO);
        return model;
    }
}
