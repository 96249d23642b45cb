#!/usr/bin/python3
"""Diagnostic: how good is a bio model's hidden code, independent of its output rule?
Rebuilds the hidden layer's inference from the model file alone (numpy: log-normalised efficacy
H1 and the feedback-inhibition fixed point H2, docs/RULE.md, for a model without divisive
normalisation) and fits two gradient-trained linear probes on the training set the model was
trained on (MNIST or Fashion-MNIST, from the model file's metadata): a signed one, and the best
non-negative one (weights clamped at 0: a probe, not a learning rule). Needs python3-torch (scripts/install-deps.sh --with-torch).
Usage: scripts/readout_probe.py runs/results/bio_mnist_ne200-seed1/model.safetensors [--kmeans [--per-class]] [--gain G]
--kmeans: the ceiling of the code's form instead of the learned weights: the same H1/H2 (this
model's efficacy floor and inhibition gain) on N_E prototypes found by k-means on the training
images (15 Lloyd iterations from N_E random training images, seed 0), probed the same way.
--per-class (with --kmeans): N_E / 10 prototypes per class, k-means within each class's training
images (a supervised ceiling: the labels choose which images each prototype may summarise).
--gain G: use inhibition gain G in H2 instead of the model's (with --kmeans: the ceiling of the form at that gain).
Also prints the silent fraction of the weights probed (below 1 % of the neuron's largest weight,
the `dalenet analyze` default) of the excitatory units, `never_top` (units that are the most
active unit for no training image: capacity a competitive code does not use) and the mean number
of active units per test image.
"""
import json, struct, sys, numpy as np, torch
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench')); from torch_workloads import idx
torch.set_num_threads(2); torch.manual_seed(0)
path=sys.argv[1]
raw=open(path,'rb').read(); n=struct.unpack('<Q',raw[:8])[0]; h=json.loads(raw[8:8+n]); d=raw[8+n:]
t=lambda k: np.frombuffer(d[h[k]['data_offsets'][0]:h[k]['data_offsets'][1]],{'F32':'<f4','U8':'u1'}[h[k]['dtype']]).reshape(h[k]['shape'])
meta=json.loads(h['__metadata__']['dalenet']); arch=meta['architecture']
W=t('projections.0.weight').astype(np.float64); b=t('projections.0.bias'); floor=arch['projections'][0]['floor']
L=arch['layers'][1]; nE=L['populations'][0]['size']; g=L['inhibition_gain']
if '--gain' in sys.argv[2:]:   # H2's gain g instead of the model's (for ceilings of the form at other gains)
    try: g=float(sys.argv[sys.argv.index('--gain')+1]); assert g>0
    except (IndexError,ValueError,AssertionError): sys.exit('readout_probe.py: --gain needs a positive number')
W=W[:nE]; b=b[:nE]
kmeans='--kmeans' in sys.argv[2:]
per_class='--per-class' in sys.argv[2:]
if per_class and not kmeans: sys.exit('readout_probe.py: --per-class needs --kmeans')
def efficacy(W): return np.log(np.maximum(W/np.maximum(W.sum(1,keepdims=True),1e-30),floor)/floor)  # H1
E=efficacy(W)
def feats(X):
    z=X@E.T+b
    s=-np.sort(-z,1); cs=np.cumsum(s,1); m=np.arange(1,z.shape[1]+1)
    I=g*cs/(1+g*m); nxt=np.concatenate([s[:,1:],np.full((len(z),1),-np.inf)],1)
    ok=(s>I)&(nxt<=I); j=ok.argmax(1); lev=I[np.arange(len(z)),j]; lev[s[:,0]<=0]=0
    return np.maximum(z-lev[:,None],0)
dataset=meta.get('info',{}).get('dataset','mnist')   # the data set the model was trained on (mnist or fashion)
if dataset not in ('mnist','fashion'): sys.exit(f'readout_probe.py: {path}: data set {dataset!r} is not mnist or fashion')
base=os.environ.get('DALENET_DATA', os.path.expanduser('~/.cache/dalenet'))+'/'+dataset+'/'
def data_file(name): return base+name if os.path.exists(base+name) else base+name+'.gz'   # the cache keeps raw or gzipped IDX
X=idx(data_file('train-images-idx3-ubyte')).reshape(-1,784)/255.; Y=idx(data_file('train-labels-idx1-ubyte')).astype(np.int64)
Xt=idx(data_file('t10k-images-idx3-ubyte')).reshape(-1,784)/255.; Yt=idx(data_file('t10k-labels-idx1-ubyte')).astype(np.int64)
def lloyd(Xk,k):   # k-means: k centroids from k random images, 15 Lloyd iterations
    C=Xk[torch.randperm(len(Xk))[:k]].clone()
    for it in range(15):
        a=(-2*Xk@C.T+(C*C).sum(1)[None]).argmin(1)
        S=torch.zeros_like(C).index_add_(0,a,Xk); cnt=torch.bincount(a,minlength=k).float()
        C=torch.where(cnt[:,None]>0,S/cnt.clamp(min=1)[:,None],C)   # empty cluster: keep its centroid
    return C
if kmeans:  # prototypes = k-means centroids of the training images; thresholds 0
    Xk=torch.tensor(X,dtype=torch.float32)
    if per_class:
        if nE%10: sys.exit(f'readout_probe.py: --per-class needs N_E divisible by 10 (N_E = {nE})')
        Yk=torch.tensor(Y); C=torch.cat([lloyd(Xk[Yk==c],nE//10) for c in range(10)])
    else:
        C=lloyd(Xk,nE)
    W=C.numpy().astype(np.float64); b=np.zeros(nE)
    E=efficacy(W)
F=torch.tensor(feats(X),dtype=torch.float32); Ft=torch.tensor(feats(Xt),dtype=torch.float32); s=F.std(); F/=s; Ft/=s
Y=torch.tensor(Y); Yt=torch.tensor(Yt)
def fit(nonneg):
    lin=torch.nn.Linear(nE,10); 
    if nonneg: lin.weight.data=lin.weight.data.abs()
    # Adam with a cosine-annealed step over 5 epochs: a constant step (1e-2) stopped ~1 point short
    # of the converged probe (k-means prototypes at N_E = 1600: 96.7 % with a constant step, 97.7 % annealed).
    opt=torch.optim.Adam(lin.parameters(),1e-2)
    sched=torch.optim.lr_scheduler.CosineAnnealingLR(opt,5*((len(F)+255)//256))
    for ep in range(5):
        p=torch.randperm(len(F))
        for i in range(0,len(F),256):
            bb=p[i:i+256]; opt.zero_grad(); torch.nn.functional.cross_entropy(lin(F[bb]),Y[bb]).backward(); opt.step()
            if nonneg: lin.weight.data.clamp_(min=0)   # probe only: measures the best non-negative readout
            sched.step()
    return (lin(Ft).argmax(1)==Yt).float().mean().item()
silent=(W<0.01*W.max(1,keepdims=True)).mean()   # as `dalenet analyze`: |w| < 1 % of the neuron's largest
# Recruitment: units that are the most active one for no training image, and active units per test image.
never_top=int((np.bincount(F.argmax(1).numpy(),minlength=nE)==0).sum()); active=(Ft>0).sum(1).float().mean().item()
print('model',path,dataset,('(per-class k-means prototypes)' if per_class else '(k-means prototypes)') if kmeans else '','N_E',nE,'gain',g,'silent',round(silent,4),'never_top',never_top,
      'active_per_test_image',round(active,1),'signed probe',round(fit(False),4),'non-negative probe',round(fit(True),4))
