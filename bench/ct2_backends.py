"""CPU cost of Whisper tiny.en decodes under one CTranslate2 configuration (environment set by the caller).

    for ct in int8 float32; do for mkl in "" 1; do
      env ${mkl:+CT2_USE_MKL=$mkl} CT2_VERBOSE=1 OMP_NUM_THREADS=1 .venv/bin/python bench/ct2_backends.py $ct
    done; done

CTranslate2 uses Intel MKL only on Intel CPUs unless CT2_USE_MKL says otherwise, oneDNN elsewhere;
CT2_VERBOSE=1 logs the GEMM backends it chose. Decodes 12 pieces of 8 s of a real call's caller channel and
jfk.flac, each in faster-whisper's full 30 s window (beam 1, no timestamps), on one thread, and prints the best
of 3 passes' process CPU time and two of the texts (the backends must read the same).
"""

import json
import os
import sys
import time

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from callradar.models.speech import resolve_whisper_model

HERE = os.path.dirname(os.path.abspath(__file__))

DATA = os.path.join(HERE, "..", "..", "shared", "data")


def main(compute_type: str) -> None:
    model = WhisperModel(str(resolve_whisper_model("tiny.en").path), device="cpu", compute_type=compute_type, cpu_threads=1,
                         num_workers=1)
    audio = decode_audio(os.path.join(DATA, "audio/calls/auto_repairs_40_caller.wav"), sampling_rate=16000)
    pieces = [audio[s * 16000:(s + 8) * 16000] for s in range(20, 140, 10)]  # 12 pieces of 8 s
    pieces.append(decode_audio(os.path.join(DATA, "audio/reference/jfk.flac"), sampling_rate=16000))

    def one_pass() -> list[str]:
        texts = []
        for p in pieces:
            segments, _ = model.transcribe(p, beam_size=1, temperature=0.0, without_timestamps=True, language="en",
                                           vad_filter=False, condition_on_previous_text=False)
            texts.append(" ".join(s.text.strip() for s in segments))
        return texts

    one_pass()  # warm
    best = None
    for _ in range(3):
        t0 = time.process_time()
        texts = one_pass()
        spent = time.process_time() - t0
        best = spent if best is None else min(best, spent)
    print(json.dumps({"compute_type": compute_type, "CT2_USE_MKL": os.environ.get("CT2_USE_MKL"),
                      "cpu_s_per_pass": round(best, 2), "audio_s": round(sum(len(p) for p in pieces) / 16000, 1),
                      "jfk": texts[-1], "first": texts[0]}))


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("int8", "float32", "int8_float32", "float16"):
        sys.exit("usage: bench/ct2_backends.py int8|float32|int8_float32|float16")
    main(sys.argv[1])
