"""Our own call-style text set for the text heads: implicit complaints, churn, closings, calm faults.

Written for callradar (issue 14) and released under CC0 1.0 (public domain dedication): it may be
shipped inside model weights and copied freely. No licensed public set labels implicit complaints
("I've called four times about this") or churn ("I'm taking my business elsewhere") in conversation,
so these rows are composed from hand-written templates, seeded. Each template is written out typed
and ASR-style (lower case, no punctuation, a filler, a dropped word, Whisper-like mishearings such
as "manger", half-utterance cuts).

Labels per row: intent (1 escalation, complaint or churn; 0 not), sentiment (negative / neutral /
positive), frustration (0/1), kind (template family), style (typed | asr), template (for grouped
splits: rows of one template never straddle a split).

``TEMPLATES`` and the noise fragments are the issue-14 research set (702 rows, same seed, same
rows: docs/research/issue-14-prediction.md). ``CALM_NEGATIVES`` was added after the research found
frozen intent heads firing on closings ("Bye", "Here I can leave.") and on calm fault descriptions
in real calm calls: they are negatives for the escalation intent. They are written in the spirit
of those real calls, so the calm-call check is not independent of them (model cards say so).

    python -m callradar.training.callstyle OUT.jsonl     # write the set (for inspection)
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from callradar.models.call_features import NEGATION  # the risk features' own negation words

LICENCE = "CC0-1.0 (written for callradar, training/callstyle.py)"
SEED = 14

THING = ["my internet", "the heating", "my phone line", "the refund", "my bill", "the delivery", "my car", "the warranty claim",
         "the boiler", "my broadband", "the account", "the payment", "the order", "my card", "the appliance", "the repair",
         "my subscription", "the router", "the insurance claim", "my prescription"]
N = ["twice", "three times", "four times", "five times", "six times", "a dozen times", "so many times", "every day this week",
     "three times this month", "twice already"]
ORD = ["second", "third", "fourth", "fifth"]
PERIOD = ["two weeks", "three weeks", "a month", "six weeks", "two months", "since january", "all summer", "ten days"]
COMP = ["another provider", "your competitor", "someone else", "a different company", "another bank", "another garage", "a company that cares"]

TEMPLATES = {
 # implicit complaints: repeat contact, repeated failure, waiting, broken promises
 ("implicit_repeat", 1, "negative", 1): [
  "i've called {n} about this", "this is the {o} time i'm calling about {t}", "i've already explained this {n}",
  "i've been on the phone {n} about {t} and nothing happens", "every time i call i get told something different",
  "i called last week and the week before and it's still not sorted", "i keep getting passed from one person to another",
  "nobody ever calls me back", "you said someone would call me back and nobody did", "i was promised a callback {n} and never got one",
  "i've been waiting {p} for {t} to be fixed", "{t} still isn't working after {p}", "this is the {o} bill that's wrong",
  "this is the {o} time the engineer hasn't turned up", "i've had to chase this {n}", "i'm still waiting on {t} after {p}",
  "it's been {p} and i'm still waiting", "i've spent hours on hold over this", "i've been on hold for forty minutes",
  "you keep saying it's fixed and it isn't", "i was told it would be sorted by friday and it wasn't", "that's what the last person said",
  "i've heard that before", "why do i have to keep repeating myself", "i've given you my details {n} already",
  "the same thing happened last month", "it's the same problem again", "{t} broke again for the {o} time",
 ],
 # churn threats and cancellation of the relationship
 ("churn", 1, "negative", 1): [
  "i'm taking my business elsewhere", "i'm going to switch to {c}", "if this isn't fixed today i'm leaving",
  "i want to cancel my contract", "i'm thinking of leaving after all this", "i'll be moving to {c} when my contract ends",
  "honestly i'm done with your company", "i don't want to be a customer any more", "give me a reason not to leave",
  "i'm cancelling everything", "close my account i've had enough", "i've already got a quote from {c}",
  "i'll take my money somewhere else", "i'm not renewing after this", "what's the fee to leave because i'm leaving",
  "i've been a customer for ten years and this is how you treat me", "after {p} of this i'm out",
 ],
 # explicit escalation, formal complaint, legal/regulator
 ("explicit", 1, "negative", 1): [
  "i want to speak to a manager", "put me through to your supervisor", "is there anyone senior i can talk to",
  "i want to make a formal complaint", "how do i raise a complaint about this", "i'll be reporting this to the ombudsman",
  "i'm going to contact my lawyer", "i want this escalated", "get me someone who can actually help",
  "i want to speak to someone above you", "let me talk to your team leader", "i'll be writing to the regulator",
  "i want it noted that i'm complaining", "this is going on social media", "i'll leave a review so people know",
 ],
 # venting: negative and frustrated, complaint about service (counts as complaint)
 ("venting", 1, "negative", 1): [
  "this is ridiculous", "this is absolutely unacceptable", "i'm so fed up with this", "this service is a joke",
  "you people are useless", "i can't believe how badly this has been handled", "i'm really not happy with how this has gone",
  "i'm sick of this", "this has been a nightmare from start to finish", "i'm paying for a service i'm not getting",
  "you charged me twice and nobody will fix it", "your app never works", "this is the worst customer service i've ever had",
 ],
 # negative but not a complaint to the company: bad news, worry, sadness (intent 0)
 ("negative_not_complaint", 0, "negative", 0): [
  "my dad passed away last month so i need to close his account", "i'm worried i won't be able to pay this month",
  "unfortunately i lost my job", "i'm a bit stressed about the move", "the car got damaged in the storm",
  "sadly the dog chewed through the cable", "i'm sorry i dropped the phone", "i feel terrible i forgot the payment",
  "my wife is in hospital so i'm handling things", "i'm not feeling great today",
 ],
 # routine requests incl. hard negatives with trigger words
 ("routine", 0, "neutral", 0): [
  "i'd like to book {t} in for a service", "can you check the status of {t}", "i need to update my address",
  "can i change the payment date", "i'm calling about {t}", "what time do you open on saturday",
  "can i cancel the order i placed this morning", "i ordered the wrong size can i swap it", "my manager at work asked me to call",
  "i need to speak to someone about {t}", "is my supervisor's card on the account", "i called yesterday to book an appointment",
  "this is the third item on my list", "i'd like to cancel the appointment on tuesday and rebook", "how much is it to switch to the premium plan",
  "can you transfer me to billing please", "which department handles {t}", "i need a copy of the invoice",
  "can you repeat the reference number", "sorry could you say that again", "hold on let me get my card", "the warning light came on this morning",
  "it's making a strange noise when i brake", "my account number is four five six seven", "yes that's right", "no that's everything",
  "i'll wait", "okay go ahead", "could you spell that for me", "what's the earliest slot you have", "can i pay by card",
  "i'd like to add my partner to the account", "i'm moving house next month", "i want to leave a message for the engineer",
  "i'm leaving for work at eight so morning is better", "i'll call back later", "do i need to bring anything",
 ],
 ("positive", 0, "positive", 0): [
  "thanks that's really helpful", "brilliant that's sorted then", "you've been great thank you", "perfect see you on tuesday",
  "thank you so much for your help", "that's fantastic news", "lovely thanks", "great that works for me", "cheers have a good day",
  "i really appreciate it", "wonderful thank you", "that was quick thanks",
 ],
}

FILLERS = ["um", "uh", "like", "you know", "i mean", "so", "well", "look", "right", "yeah"]
ASR_SUBS = {"manager": ["manger", "man ager"], "supervisor": ["super visor", "supervise her"], "ombudsman": ["ombuds man", "omnibus man"],
            "complaint": ["come plaint", "complain"], "escalated": ["escalate it", "a scalated"], "cancel": ["cancer", "cancel"],
            "lawyer": ["lower", "lawyer"], "regulator": ["regular", "regulator"]}


# Added for the shipped heads (not in the research set): closings, calm fault descriptions and short
# calm turns, all intent 0. "Bye" and "I can leave now" misfired as churn; describing a fault ("my oil
# light is still on and I don't know why") read as a complaint to heads that learnt complaints from reviews.
CALM_NEGATIVES = {
 ("closing", 0, "neutral", 0): [
  "bye", "okay bye", "bye bye then", "that's it", "no that's it", "that's it thanks", "that's it for today",
  "i can leave now", "so i can go now then", "i can leave it with you", "that's all i needed", "okay i'll let you go",
  "alright see you then", "have a good one", "talk to you later", "i think we're done", "i'll head off then",
  "okay thanks bye", "see you on {d}", "no that's everything thanks", "okay i'll leave it there", "right i'm off",
 ],
 ("calm_fault", 0, "neutral", 0): [
  "the warning light is on", "my {l} is still on and i don't know why", "the {l} came on this morning",
  "there's a grinding noise from the front wheels", "it makes a rattling sound when i start it", "the brakes squeak a bit when i stop",
  "the car pulls to the left on the motorway", "it won't start when it's cold", "i noticed a small puddle under the car",
  "the router lights are blinking orange", "the heating comes on but the radiators stay cold", "my internet drops out in the evening",
  "the screen flickers when i turn it on", "it's been leaking a little under the sink", "i think the battery might be going",
  "it's making a clicking noise when i turn", "i'm not sure what's wrong with it", "the tyre pressure looks low",
  "it's due its service next month", "the engine sounds louder than usual", "it shakes a bit over fifty",
 ],
 ("calm_short", 0, "neutral", 0): [
  "okay", "right", "sure", "yeah that's fine", "no problem", "alright", "mm okay", "hang on a second", "see you in a minute",
  "okay now i'm going to turn it off and on again", "let me just check", "yeah go on", "one moment", "fine",
 ],
 # Negated requests: the request's words, the customer saying they do NOT want it. The heads read
 # "I'm not going to sue anyone" as a legal threat (0.98) and "I have no complaints" as a complaint.
 ("negated_request", 0, "neutral", 0): [
  "i don't need a manager", "no need to get your supervisor", "i don't need to speak to anyone else", "i'm not going to cancel",
  "i don't want to cancel my account", "i'm not cancelling anything", "i'm not going to sue anyone", "i don't want to make a complaint",
  "i have no complaints", "no complaints at all", "i'm not complaining", "it's not a complaint just a question",
  "i'm not looking to switch providers", "i don't want to escalate this", "no need to escalate it", "i'm not planning to leave",
  "i'm not after a refund", "i'm not angry just confused", "i won't be going anywhere", "i don't want a lawyer involved",
 ],
}
# Negations for the sentiment head (session 12): it read "no, that's fine" as negative (P 0.88) and
# "I'm not upset" too. Calm and positive negations, with negated complaints as their contrast, so the
# heads learn what the negation does rather than "not" = calm. Held-out probes (other phrasings, not
# templates) are in bench/research/issue14/negation_probes.py; the check set's rows are not reused.
NEGATIONS = {
 ("negated_calm", 0, "neutral", 0): [
  "no that's fine", "no it's fine really", "no worries at all", "no need to apologise", "i'm not upset",
  "i'm not worried about it", "i'm not bothered either way", "i don't mind waiting", "i don't mind at all",
  "it doesn't matter", "nothing's wrong i just have a question about {t}", "it's no bother", "no harm done",
  "it wasn't your fault", "no it's not urgent", "no it doesn't bother me", "no no go ahead", "no i understand",
  "it's not complicated", "it's not the end of the world",
 ],
 ("negated_positive", 0, "positive", 0): [
  "not bad at all", "i can't complain", "couldn't be happier", "i couldn't have asked for more",
  "never had a problem with you lot", "it couldn't have gone better", "i can't thank you enough",
  "no complaints it's been great", "it's never let me down", "that wasn't hard at all thanks",
 ],
 ("negated_negative", 1, "negative", 1): [
  "it's not fine at all", "nothing has been done about it", "you're not listening to me", "i'm not pleased with the service",
  "i don't appreciate being kept waiting", "that's not the service i'm paying for", "i don't think that's fair at all",
  "i'm not impressed", "this isn't working for me", "nobody seems to care", "i'm really not having this",
  "it's not right that i have to chase you",
 ],
}
LIGHTS = ["oil light", "engine light", "battery light", "tyre pressure light", "abs light", "service light"]
DAYS = ["monday", "tuesday", "friday", "the tenth", "thursday morning"]
NOISE_WORDS = ["t", "i", "l", "e", "s", "a", "o", "mm", "hm", "uh", "the", "and", "so", "it", "you", "okay", "bye",
               "yeah", "no", "right"]


class _Writer:
    """The template filler and the two styles, all drawing from one seeded generator (the row order is the set)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def fill(self, t: str) -> str:
        r = self.rng
        s = (t.replace("{t}", r.choice(THING)).replace("{n}", r.choice(N)).replace("{o}", r.choice(ORD))
             .replace("{p}", r.choice(PERIOD)).replace("{c}", r.choice(COMP)))
        for slot, choices in (("{l}", LIGHTS), ("{d}", DAYS)):  # drawn only when used: the research rows stay as they were
            if slot in s:
                s = s.replace(slot, r.choice(choices))
        return s

    def typed(self, s: str) -> str:
        s = s[0].upper() + s[1:]
        s = re.sub(r"\bi\b", "I", s).replace(" i'", " I'")
        return s + self.rng.choice([".", ".", "!", "?"]) if not s.endswith("?") else s

    def asr(self, s: str) -> str:
        r, words = self.rng, s.split()
        if r.random() < 0.5:
            words.insert(r.randrange(len(words) + 1), r.choice(FILLERS))
        if r.random() < 0.2 and len(words) > 3:  # a dropped word
            del words[r.randrange(len(words))]
        out = [r.choice(ASR_SUBS[w]) if w in ASR_SUBS and r.random() < 0.5 else w for w in words]
        if r.random() < 0.15 and len(out) > 4:  # the segmenter cut the utterance in half
            out = out[: len(out) // 2 + 1]
        return " ".join(out)

    def family_rows(self, families: dict) -> list[dict]:
        rows = []
        for (kind, intent, sent, frus), templates in families.items():
            for t in templates:
                for _ in range(3):
                    s = self.fill(t)
                    typed, spoken = self.typed(s), self.asr(s)
                    if kind.startswith("negated_") and not NEGATION.search(spoken):
                        spoken = s  # the dropped word or the cut took the negation: the label would be wrong
                    for style, text in (("typed", typed), ("asr", spoken)):
                        rows.append({"text": text, "intent": intent, "sentiment": sent, "frustration": frus,
                                     "kind": kind, "style": style, "template": t})
        return rows


def callstyle_rows(seed: int = SEED, calm_negatives: bool = True, negations: bool = True) -> list[dict]:
    """The set, deduplicated by text. ``calm_negatives=False`` gives the research's 702 rows;
    ``negations=False`` the 1,047 rows the intent head of 2026-12-04 was trained on (one of them mended since)."""
    w = _Writer(seed)
    rows = w.family_rows(TEMPLATES)
    for _ in range(60):  # noise fragments (made up, not the real calls' fragments)
        n = w.rng.choice([1, 1, 2, 2, 3])
        frag = " ".join(w.rng.choice(NOISE_WORDS) for _ in range(n))
        rows.append({"text": frag, "intent": 0, "sentiment": "neutral", "frustration": 0, "kind": "noise",
                     "style": "asr", "template": "noise"})
    if calm_negatives:
        rows += w.family_rows(CALM_NEGATIVES)
    if calm_negatives and negations:
        rows += w.family_rows(NEGATIONS)
    seen, out = set(), []
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m callradar.training.callstyle OUT.jsonl", file=sys.stderr)
        return 2
    rows = callstyle_rows()
    Path(argv[0]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(len(rows), dict(Counter((r["kind"], r["intent"]) for r in rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
