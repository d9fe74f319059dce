/**
 * The RxJS the library uses, imported module by module.
 *
 * `require('rxjs')` loads all of RxJS (every operator and observable: about
 * 10 MB of heap and a good share of a cold start); ws-rx needs a dozen
 * classes and functions. RxJS 7 exports its modules under `rxjs/internal/*`
 * (package.json `exports`), and they are the very modules `rxjs` re-exports,
 * so an `Observable` from here is the `Observable` users import from `rxjs`.
 * Types come from `rxjs` itself (erased at run time).
 */
export { Observable } from 'rxjs/internal/Observable';
export { Subject } from 'rxjs/internal/Subject';
export { BehaviorSubject } from 'rxjs/internal/BehaviorSubject';
export { ReplaySubject } from 'rxjs/internal/ReplaySubject';
export { Subscriber } from 'rxjs/internal/Subscriber';
export { Subscription } from 'rxjs/internal/Subscription';
export { EMPTY } from 'rxjs/internal/observable/empty';
export { defer } from 'rxjs/internal/observable/defer';
export { share } from 'rxjs/internal/operators/share';
export { asyncScheduler } from 'rxjs/internal/scheduler/async';
export type { MonoTypeOperatorFunction, Observer, OperatorFunction, SchedulerLike } from 'rxjs';
