#!/bin/bash
# DJL sampling (bench-sample --engines djl) and NppModel.predict at batch 1 and 32,
# threads: unset OMP_NUM_THREADS (the project's default: org.nextpatch.util.Threads), 1, 2 (= libtorch's own
# default on a 2-core machine: one per physical core); as found, then with one extra busy process.
# Run from the repository root after ./npp --help has built the jar: bash docs/bench/threads.sh
APP=npp-plugin/target
CFG=docs/bench/gpt-small.json
export OPT_OUT_TRACKING=true
for load in asfound busy; do
  if [ $load = busy ]; then yes > /dev/null & BUSY=$!; fi
  for th in default 1 2; do
    echo "=== load=$load threads=$th $(date +%T) loadavg=$(cut -d' ' -f1 /proc/loadavg)"
    if [ $th = default ]; then unset OMP_NUM_THREADS; else export OMP_NUM_THREADS=$th; fi
    java -Dai.djl.offline=true -jar $APP/npp-plugin.jar bench-sample --gpt-config $CFG --engines djl --batch-sizes 1,32 --repeats 3 --cfg-scale 2.0 2>/dev/null | grep '| djl'
    java -Dai.djl.offline=true -cp "$APP/npp-plugin.jar:$APP/lib/*" docs/bench/PredictBench.java 2>/dev/null | grep predict
  done
  if [ $load = busy ]; then kill $BUSY; fi
done
echo "done $(date +%T)"
