"""Session 13's candidate intent head: `callradar train intent` with a small network for the head instead of the
recipe's logistic regression, to see whether it learns the call-style set's negation rows ("I don't need a
manager" calm, "I'm not impressed" a complaint), which the logistic head does not. Same arguments as
`python -m callradar.training.intent`; with the embedding cache of an earlier run it takes a minute or two:

    OMP_NUM_THREADS=2 CALLRADAR_EMBEDDING_CACHE=/tmp/s13/emb .venv/bin/python bench/research/issue14/intent_mlp.py \\
        --out /tmp/s13/int/mlp/intent --baseline models/artifacts/intent --max-bitext 8000 --measure-vader /tmp/s13/vader_gt
"""
import sys

import numpy as np

from callradar.training import intent as I

HIDDEN, DROPOUT, WEIGHT_DECAY, EPOCHS, SEEDS = 256, 0.2, 0.01, 4, 5


def fit_mlp_intent_head(x: np.ndarray, y: np.ndarray, C: float):
    """SEEDS one-hidden-layer networks (BCE, every row once, as the recipe), saved as ONE network with their mean logit.
    ``C`` (the logistic recipe's choice) is not used."""
    import torch

    from callradar.models.sentiment import VADER_FEATURES, LinearHead

    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt, yt = torch.tensor((x - mu) / sd, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    loss = torch.nn.BCEWithLogitsLoss()
    w1, b1, w2, b2 = [], [], [], 0.0
    for s in range(SEEDS):
        torch.manual_seed(s)
        nn = torch.nn
        net = nn.Sequential(nn.Dropout(DROPOUT / 2), nn.Linear(x.shape[1], HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT),
                            nn.Linear(HIDDEN, 1))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
        order = torch.Generator().manual_seed(s)
        net.train()
        for _ in range(EPOCHS):
            for idx in torch.randperm(len(yt), generator=order).split(256):
                opt.zero_grad()
                loss(net(xt[idx])[:, 0], yt[idx]).backward()
                opt.step()
        with torch.no_grad():
            w, b = net[1].weight.double().numpy(), net[1].bias.double().numpy()
            w1.append(w / sd)
            b1.append(b - w @ (mu / sd))
            w2.append(net[4].weight.double().numpy() / SEEDS)
            b2 += float(net[4].bias.double().numpy()[0]) / SEEDS
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return LinearHead(f32(np.hstack(w2)), f32([b2]), ["escalation"], "sigmoid", list(VADER_FEATURES),
                      f32(np.vstack(w1)), f32(np.concatenate(b1)))


I.fit_intent_head = fit_mlp_intent_head
sys.exit(I.main(sys.argv[1:]))
