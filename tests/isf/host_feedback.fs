/*{
    "DESCRIPTION": "Host test: one pass that writes a persistent target and is the output",
    "PASSES": [{"TARGET": "lastFrame", "PERSISTENT": true, "FLOAT": true}]
}*/

void main() { gl_FragColor = vec4(IMG_THIS_PIXEL(lastFrame).rgb + vec3(0.1, 0.2, 0.0), 1.0); }
