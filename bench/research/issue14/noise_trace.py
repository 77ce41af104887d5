import sys; sys.argv = ["x"]
exec(open("/tmp/exp14/noise_rule.py").read().split("res = {}")[0])
for call in ("auto_repairs_40", "auto_repairs_49"):
    utts = sorted([t for t in real if t["name"].startswith(call + ":caller")], key=lambda t: int(t["name"].split(":")[-1]))
    texts = [u["adaptive-4"] for u in utts if u["adaptive-4"].strip()]
    scores = score(texts, ["customer"] * len(texts), "none")
    st, t = CallState(), 0.0
    for x, s in zip(texts, scores):
        st.add(ScoredUtterance("customer", t, t + 2, x, s)); t += 5
        rr = risk.predict(st.features())
        print(f"{call[-2:]} r={rr.risk:.2f} int={s.intent:.2f} neg={s.sentiment_scores['negative']:.2f} fr={s.frustration:.2f} {x[:60]!r} {[(q['feature'], q['value']) for q in rr.reasons]}")
