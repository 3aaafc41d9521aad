// bottleneck's light build is the same API as its main entry, without the Redis clustering.
declare module 'bottleneck/light.js' {
  import Bottleneck from 'bottleneck'
  export default Bottleneck
}
